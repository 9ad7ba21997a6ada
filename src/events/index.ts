export * from './types';
export { emitEvent, setEventSink, type EventSink } from './emit';
export { EventStore, MAX_EVENTS } from './store';
export { runRecorder } from './recorder';
export { EventDeriver } from './derive';
