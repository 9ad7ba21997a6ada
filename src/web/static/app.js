// The live page: one EventSource on /api/events (status = the whole view, feed = new events,
// problem = etcd unreachable); the browser reconnects by itself when the stream drops.
import { addFeed, renderDeployments, renderExplain, renderGrid, renderJobs, renderLeader, renderMachines, renderUnits } from './render.js';

const $ = (id) => document.getElementById(id);
let view = null;

function setConn(state, text) {
  const c = $('conn');
  c.className = `conn ${state}`;
  c.dataset.state = state;
  c.textContent = text;
}

async function explain(unit) {
  const box = $('explain');
  try {
    const r = await fetch(`/api/explain?unit=${encodeURIComponent(unit)}`);
    if (!r.ok) throw new Error(await r.text());
    renderExplain(box, await r.json());
  } catch (err) {
    box.hidden = false;
    box.textContent = `explain ${unit}: ${err.message}`;
  }
}

function render(v) {
  view = v;
  renderMachines($('machines'), v.machines, v.units, v.leader);
  renderLeader($('leader'), v.leader, v.machines);
  $('machines-count').textContent = `(${v.machines.length})`;
  renderGrid($('grid'), v.machines, v.units);
  renderUnits(document.querySelector('#units tbody'), v.units, explain);
  const bad = v.units.filter((u) => !u.ok).length;
  $('units-count').textContent = `(${v.units.length}${bad ? `, ${bad} not as desired` : ''})`;
  renderDeployments($('groups'), $('deployments'), v);
  renderJobs(document.querySelector('#jobs tbody'), v.jobs ?? [], v.moreJobs ?? 0);
  const active = (v.jobs ?? []).filter((j) => !j.finished).length;
  $('jobs-count').textContent = `(${(v.jobs ?? []).length + (v.moreJobs ?? 0)}${active ? `, ${active} unfinished` : ''})`;
  $('summary').textContent = `revision ${v.revision} · ${new Date(v.time).toLocaleTimeString([], { hour12: false })}`;
  document.body.dataset.revision = String(v.revision);
}

function connect() {
  const es = new EventSource('/api/events');
  es.onopen = () => setConn('live', 'live');
  es.onerror = () => setConn(es.readyState === EventSource.CLOSED ? 'down' : 'connecting', 'reconnecting…');
  es.addEventListener('status', (e) => render(JSON.parse(e.data)));
  es.addEventListener('feed', (e) => addFeed($('feed'), JSON.parse(e.data)));
  // the whole feed kept by shoald, on (re)connect
  es.addEventListener('feed-all', (e) => { $('feed').replaceChildren(); addFeed($('feed'), JSON.parse(e.data)); });
  es.addEventListener('problem', (e) => {
    const { message } = JSON.parse(e.data);
    $('problem').hidden = !message;
    $('problem').textContent = message ? `cannot read the cluster: ${message} (showing what was last seen)` : '';
  });
}

connect();
export { view };
