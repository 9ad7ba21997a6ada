/** Public API of src/units: unit files, names, hashes, [X-Fleet]/[X-Shoal]/[X-Container] options. */
export * from './types';
export { parseUnit, instantiate, type ParseUnitOptions } from './unit';
export { parseUnitFile, serializeUnitFile, sectionEntries, hasSection, type ParseOptions } from './unit-file';
export { UNIT_LIMITS, decodeUnitText } from './unit-text';
export { unitHash, shortHash } from './unit-hash';
export { parseUnitName, isTemplate, isValidUnitName, templateOf, instanceName, UNIT_NAME_MAX } from './unit-name';
export { parseFleetOptions, emptyFleetOptions, unitsConflict, FLEET_SECTION } from './fleet-options';
export { parseShoalOptions, parseCpu, parseMemory, parseCpuQuota, SHOAL_SECTION, type ShoalOptions } from './resources';
export { parseContainer, CONTAINER_SECTION } from './container';
export { matchUnitGlob, isGlob } from './unit-glob';
export { expandSpecifiers } from './specifiers';
export { metadataProblem } from './metadata';
export { parseGroupOptions, parseDuration, HEALTH_DEFAULTS, UPDATE_DEFAULTS, MAX_INSTANCES, type GroupOptions, type HealthOptions, type UpdateOptions } from './group-options';
