// Renders the cluster view (StatusView of src/web/status.ts) into the page. Text goes in with
// textContent only: unit names and metadata come from users.

/** Creates an element with attributes and children (strings become text). */
export function el(tag, attrs = {}, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    if (k === 'class') e.className = v;
    else if (k === 'text') e.textContent = v;
    else if (k.startsWith('on')) e.addEventListener(k.slice(2), v);
    else e.setAttribute(k, v === true ? '' : String(v));
  }
  for (const c of children.flat()) if (c !== null && c !== undefined) e.append(typeof c === 'string' ? document.createTextNode(c) : c);
  return e;
}

const MIB = 1024 * 1024;

function fmtBytes(n) {
  if (n >= 1024 * MIB) return `${(n / 1024 / MIB).toFixed(1)} GiB`;
  return `${Math.round(n / MIB)} MiB`;
}

function fmtCpu(m) { return m >= 1000 ? `${(m / 1000).toFixed(m % 1000 ? 1 : 0)} cores` : `${m}m`; }

/** One load bar: `used` of `total`, with a label. */
function bar(label, used, total, fmt, testid) {
  const pct = total > 0 ? Math.min(100, Math.round((used / total) * 100)) : 0;
  const cls = pct >= 95 ? 'fill full' : pct >= 75 ? 'fill high' : 'fill';
  return el('div', { class: 'bar', 'data-bar': testid, 'data-pct': pct },
    el('div', { text: `${label} ${fmt(used)} / ${total > 0 ? fmt(total) : '?'} (${pct}%)` }),
    el('div', { class: 'track' }, el('div', { class: cls, style: `width:${pct}%` })));
}

export function renderMachines(root, machines, units, leader) {
  const count = new Map();
  for (const u of units) if (u.machine) count.set(u.machine, (count.get(u.machine) ?? 0) + 1);
  root.replaceChildren(...machines.map((m) => el('div', { class: `card${m.leaving || m.cordon ? ' leaving' : ''}`, 'data-machine': m.id, 'data-cordon': m.cordon || null },
    el('h3', {}, m.id, leader && leader.id === m.id ? el('span', { class: 'chip lead', 'data-leads': '', text: 'leads' }) : null),
    el('div', { class: 'muted', text: `${m.address || 'no address'} · ${count.get(m.id) ?? 0} unit(s) · v${m.version}${m.leaving ? ' · leaving' : ''}${m.cordon ? ` · ${m.cordon}` : ''}` }),
    el('div', { class: 'chips' }, Object.entries(m.metadata).map(([k, v]) => el('span', { class: 'chip', text: `${k}=${v}` }))),
    bar('CPU reserved', m.reserved.cpuMillis, m.capacity.cpuMillis, fmtCpu, 'cpu'),
    bar('memory reserved', m.reserved.memoryBytes, m.capacity.memoryBytes, fmtBytes, 'memory'),
    m.load ? bar('CPU in use', m.load.cpuMillis, m.load.cpuTotalMillis, fmtCpu, 'load-cpu') : null,
    m.load ? bar('memory in use', m.load.memoryBytes, m.load.memTotalBytes, fmtBytes, 'load-memory') : null,
    m.load && m.load.diskTotalBytes ? bar('disk in use', m.load.diskUsedBytes, m.load.diskTotalBytes, fmtBytes, 'load-disk') : null,
  )));
}

function stateClass(s) {
  if (!s) return '';
  if (s.health === 'unhealthy') return 's-unhealthy';
  if (s.active === 'active' && !s.current) return 's-old';
  return `s-${s.active}`;
}

export function renderGrid(table, machines, units) {
  const rows = units.filter((u) => u.kind !== 'template');
  const head = el('tr', {}, el('th', { text: '' }), machines.map((m) => el('th', { class: 'm', title: m.id, text: m.id.slice(0, 12) })));
  const body = rows.map((u) => el('tr', { 'data-grid-unit': u.name },
    el('th', { text: u.name, style: 'text-align:left' }),
    machines.map((m) => {
      const s = u.states[m.id];
      const title = s ? `${u.name} on ${m.id}: ${s.active} (${s.sub})${s.health ? `, ${s.health}` : ''}${s.current ? '' : ', old version'}` : `${u.name}: not on ${m.id}`;
      return el('td', { class: `cell-td ${stateClass(s)}${u.machine === m.id ? ' placed' : ''}`, title, 'data-m': m.id });
    })));
  table.replaceChildren(el('thead', {}, head), el('tbody', {}, body));
}

export function renderUnits(tbody, units, onExplain) {
  tbody.replaceChildren(...units.map((u) => {
    const health = Object.values(u.states).map((s) => s.health).filter(Boolean);
    return el('tr', { 'data-unit': u.name, 'data-ok': String(u.ok) },
      el('td', {}, u.name, u.kind !== 'unit' ? el('span', { class: 'chip', text: u.kind }) : null),
      el('td', { text: u.desired }),
      el('td', { class: u.ok ? '' : 'bad' }, u.actual,
        u.unplaced ? el('span', { class: 'unplaced', 'data-unplaced': u.name, text: `why: ${u.unplaced}` }) : null,
        u.kind !== 'template' ? el('button', { class: 'explain-btn', onclick: () => onExplain(u.name), text: 'explain' }) : null),
      el('td', { class: 'machine', text: u.machine || (u.kind === 'global' ? 'all that match' : '–') }),
      el('td', { text: health.length ? [...new Set(health)].join(', ') : '' }));
  }));
}

export function renderExplain(root, ex) {
  root.hidden = false;
  root.replaceChildren(
    el('strong', { text: ex.unit }), ` — ${ex.summary}`,
    el('ul', {}, (ex.details ?? []).map((d) => el('li', { class: d.passes ? '' : 'no' },
      `${d.machine}: ${d.passes ? `fits${d.chosen ? ' (chosen)' : ''}, score ${d.total.toFixed(2)}` : d.filters.filter((f) => !f.ok).map((f) => `${f.plugin}: ${f.reason}`).join('; ')}`))),
    el('button', { onclick: () => { root.hidden = true; }, text: 'close' }));
}

export function renderDeployments(groupsRoot, depRoot, view) {
  groupsRoot.replaceChildren(...(view.groups.length ? view.groups.map((g) => el('div', { class: 'dep', 'data-group': g.template, text: `${g.template}: ${g.count} instance(s)` }))
    : [el('div', { class: 'muted', text: 'no groups' })]));
  depRoot.replaceChildren(...(view.deployments.length ? view.deployments.map((d) => el('div', { class: 'dep', 'data-deployment': d.unit },
    el('strong', { text: d.unit }), ` ${d.status} · step ${d.step}/${d.steps} · ${d.healthy}/${d.total} healthy`,
    el('div', { class: 'muted', text: d.message }),
    d.finished ? null : el('div', { class: 'bar' }, el('div', { class: 'track' }, el('div', { class: 'fill', style: `width:${d.steps ? Math.round((d.step / d.steps) * 100) : 0}%` })))))
    : [el('div', { class: 'muted', text: 'no deployments' })]));
}

/** The engine that leads, in the header ('no leader' when none). */
export function renderLeader(span, leader, machines) {
  span.dataset.leader = leader ? leader.id : '';
  if (!leader) { span.textContent = 'no leader'; return; }
  // a machine's engine is named by its machine id (shortened like the grid's columns); [engine] id or HOST-PID as they are
  const id = machines.some((m) => m.id === leader.id) ? leader.id.slice(0, 12) : leader.id;
  span.textContent = `leader ${id}${leader.since ? ` since ${hhmmss(Date.parse(leader.since))}` : ''}`;
  span.title = `engine ${leader.id} leads${leader.since ? ` since ${leader.since}` : ''}`;
}

const JOB_CLASS = { failed: 'bad', retrying: 'warn', running: 'run', pending: 'run' };

/** Batch jobs (shoalctl jobs): unfinished first. */
export function renderJobs(tbody, jobs, more) {
  const rows = jobs.map((j) => el('tr', { 'data-job': j.unit, 'data-status': j.status },
    el('td', {}, j.unit, j.kind !== 'run' ? el('span', { class: 'chip', text: j.kind }) : null),
    el('td', { class: JOB_CLASS[j.status] ?? '', text: j.status }),
    el('td', { text: `${j.progress}${j.next ? ` · next ${hhmmss(j.next)}` : ''}` }),
    el('td', { text: j.machine ? `${j.machine.slice(0, 12)}${j.exit ? ` · ${j.exit}` : ''}` : j.exit || '–' }),
    el('td', { class: 'muted', text: j.message })));
  if (!jobs.length) rows.push(el('tr', {}, el('td', { colspan: 5, class: 'muted', text: 'no batch jobs' })));
  if (more) rows.push(el('tr', {}, el('td', { colspan: 5, class: 'muted', text: `… ${more} older finished job(s): shoalctl jobs` })));
  tbody.replaceChildren(...rows);
}

function hhmmss(t) { return new Date(t).toLocaleTimeString([], { hour12: false }); }

/** Adds feed entries at the top (newest first), keeping at most `max`. */
export function addFeed(ol, entries, max = 200) {
  for (const e of entries) {
    ol.prepend(el('li', { class: `k-${e.kind.replace('.', '-')}`, 'data-kind': e.kind, 'data-subject': e.subject },
      el('time', { text: hhmmss(e.time) }), el('span', { class: 'kind', text: e.kind }), e.text));
  }
  while (ol.children.length > max) ol.lastElementChild.remove();
}
