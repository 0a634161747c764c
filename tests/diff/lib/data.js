'use strict';
// Entities, contexts and requests that conform to a generated schema, in the
// Cedar entity JSON format (schema-based forms mixed with __entity/__extn).

const P = require('./pools');

function genPools(r) {
  return {
    strs: r.sample(P.STR_POOL, 6),
    ints: r.sample(P.INT_POOL, 6),
    decimal: r.sample(P.DEC_VALID, 4),
    ipaddr: r.sample(P.IP_VALID, 5),
    datetime: r.sample(P.DT_VALID, 4),
    duration: r.sample(P.DUR_VALID, 4),
    tagKeys: r.sample(P.TAG_KEY_POOL, 4),
    ids: r.sample(P.ENTITY_ID_POOL, 12),
  };
}

const EXT_FN = { decimal: 'decimal', ipaddr: 'ip', datetime: 'datetime', duration: 'duration' };

class Store {
  constructor() {
    this.list = [];
    this.byType = new Map(); // type -> [id]
    this.keys = new Set();
    this.parentMap = new Map(); // key -> [uid]
  }
  key(uid) {
    return uid.type + '\u0001' + uid.id;
  }
  addParent(uid, p) {
    const k = this.key(uid);
    if (!this.parentMap.has(k)) this.parentMap.set(k, []);
    this.parentMap.get(k).push(p);
  }
  // transitive ancestors of uid (as far as the store knows)
  ancestors(uid) {
    const out = [];
    const seen = new Set();
    const stack = [...(this.parentMap.get(this.key(uid)) || [])];
    while (stack.length) {
      const p = stack.pop();
      const k = this.key(p);
      if (seen.has(k)) continue;
      seen.add(k);
      out.push(p);
      stack.push(...(this.parentMap.get(k) || []));
    }
    return out;
  }
  add(e) {
    this.list.push(e);
    const t = e.uid.type;
    if (!this.byType.has(t)) this.byType.set(t, []);
    this.byType.get(t).push(e.uid.id);
    this.keys.add(t + '\u0001' + e.uid.id);
  }
  has(type, id) {
    return this.keys.has(type + '\u0001' + id);
  }
  ids(type) {
    return this.byType.get(type) || [];
  }
}

// A uid of the given type: existing (mostly), or a made-up one. Enum types
// always give a declared member.
function pickUid(r, S, store, pools, type, pExisting = 0.8) {
  const et = S.typeByFull.get(type);
  if (et && et.enumIds) return { type, id: r.pick(et.enumIds) };
  const ids = store.ids(type);
  if (ids.length && r.chance(pExisting)) return { type, id: r.pick(ids) };
  return { type, id: r.chance(0.7) ? r.pick(pools.ids) : r.pick(P.ENTITY_ID_POOL) };
}

function uidJson(r, uid) {
  return r.chance(0.75) ? { type: uid.type, id: uid.id } : { __entity: { type: uid.type, id: uid.id } };
}

function extString(r, pools, name) {
  return r.chance(0.85) ? r.pick(pools[name]) : r.pick(P[{ decimal: 'DEC_VALID', ipaddr: 'IP_VALID',
    datetime: 'DT_VALID', duration: 'DUR_VALID' }[name]]);
}

// JSON value of a schema type (always conforming).
function genValue(r, S, store, pools, t, depth = 0) {
  switch (t.k) {
    case 'Bool': return r.chance(0.5);
    case 'Long': return r.chance(0.85) ? r.pick(pools.ints) : r.pick(P.INT_POOL);
    case 'String': return r.chance(0.85) ? r.pick(pools.strs) : r.pick(P.STR_POOL);
    case 'Ext': {
      const arg = extString(r, pools, t.name);
      const fn = EXT_FN[t.name];
      if (t.name === 'datetime' && r.chance(0.02)) {
        // multi-argument escape: datetime.offset(duration)
        return { __extn: { fn: 'offset', args: [{ __extn: { fn: 'datetime', arg } },
          { __extn: { fn: 'duration', arg: r.pick(['1h', '-1d', '0ms', '90m']) } }] } };
      }
      return r.wpick([[40, arg], [45, { __extn: { fn, arg } }], [15, { fn, arg }]]);
    }
    case 'Entity': return uidJson(r, pickUid(r, S, store, pools, t.name));
    case 'Set': {
      const n = r.wpick([[15, 0], [35, 1], [30, 2], [20, 3]]);
      const out = [];
      for (let i = 0; i < n; i++) out.push(genValue(r, S, store, pools, t.el, depth + 1));
      if (out.length && r.chance(0.1)) out.push(out[0]); // duplicate (sets dedupe)
      return out;
    }
    case 'Record': return genRecordValue(r, S, store, pools, t.attrs, depth + 1);
  }
  throw new Error('bad type ' + t.k);
}

function genRecordValue(r, S, store, pools, attrs, depth = 0, pOpt = 0.6) {
  const o = {};
  const order = r.chance(0.2) ? r.shuffle(attrs.slice()) : attrs;
  for (const a of order) {
    if (!a.req && !r.chance(pOpt)) continue;
    o[a.name] = genValue(r, S, store, pools, a.type, depth);
  }
  return o;
}

function genEntities(r, S, pools) {
  const store = new Store();
  const concrete = S.types.filter((t) => !t.enumIds);
  const used = new Set();
  for (const a of S.appliedActions) for (const t of [...a.applies.principals, ...a.applies.resources]) used.add(t);
  // uids
  let uids = [];
  for (const t of concrete) {
    let n = r.wpick([[20, 0], [35, 1], [30, 2], [15, 3]]);
    if (used.has(t.full)) n += 1;
    const ids = r.sample(r.chance(0.8) ? pools.ids : P.ENTITY_ID_POOL, n);
    for (const id of ids) uids.push({ type: t.full, id });
  }
  r.shuffle(uids);
  uids = uids.slice(0, 20);
  while (uids.length < 3 && concrete.length) {
    const t = r.pick(concrete);
    const id = 'extra' + uids.length;
    uids.push({ type: t.full, id });
  }
  // register all uids first so attribute references can point at them
  const ents = uids.map((uid) => ({ uid, attrs: {}, parents: [] }));
  for (const e of ents) store.add(e);

  // parents: only entities earlier in the order (acyclic), plus enum members
  // and the odd dangling reference.
  ents.forEach((e, i) => {
    const t = S.typeByFull.get(e.uid.type);
    if (!t.parents.length) return;
    const n = r.wpick([[25, 0], [45, 1], [22, 2], [8, 3]]);
    const earlier = ents.slice(0, i).filter((x) => t.parents.includes(x.uid.type));
    const seen = new Set();
    for (let j = 0; j < n; j++) {
      let p = null;
      const pt = S.typeByFull.get(r.pick(t.parents));
      if (pt.enumIds && r.chance(0.5)) p = { type: pt.full, id: r.pick(pt.enumIds) };
      else if (earlier.length && r.chance(0.9)) p = r.pick(earlier).uid;
      else if (!pt.enumIds && r.chance(0.5)) {
        const id = r.pick(P.ENTITY_ID_POOL);
        if (!store.has(pt.full, id)) p = { type: pt.full, id }; // dangling parent
      }
      if (!p) continue;
      const k = p.type + '\u0001' + p.id;
      if (seen.has(k)) continue;
      seen.add(k);
      e.parents.push(uidJson(r, p));
      store.addParent(e.uid, p);
    }
  });

  // attributes and tags
  for (const e of ents) {
    const t = S.typeByFull.get(e.uid.type);
    e.attrs = genRecordValue(r, S, store, pools, t.attrs);
    if (t.tags && r.chance(0.75)) {
      const tags = {};
      const n = r.int(0, 3);
      for (let i = 0; i < n; i++) {
        const key = r.chance(0.85) ? r.pick(pools.tagKeys) : r.pick(P.TAG_KEY_POOL);
        tags[key] = genValue(r, S, store, pools, t.tags);
      }
      e.tags = tags;
    }
  }

  // JSON forms
  const out = ents.map((e) => {
    const j = { uid: uidJson(r, e.uid), attrs: e.attrs, parents: e.parents };
    if (e.tags) j.tags = e.tags;
    return j;
  });
  // enum entities may be listed (no attrs, no parents)
  for (const t of S.types) {
    if (!t.enumIds) continue;
    for (const id of t.enumIds) {
      if (r.chance(0.2)) {
        out.push({ uid: uidJson(r, { type: t.full, id }), attrs: {}, parents: [] });
        store.add({ uid: { type: t.full, id } });
      }
    }
  }
  // action entities, exactly as declared (direct or transitively closed parents)
  if (r.chance(0.25)) {
    const closed = r.chance(0.5);
    for (const a of S.actions) {
      const ps = closed ? a.ancestors : a.parents;
      out.push({ uid: uidJson(r, a.uid), attrs: {}, parents: ps.map((p) => uidJson(r, p.uid)) });
    }
  }
  r.shuffle(out);
  return { json: out, store };
}

// Requests; most aim at what some policy's scope names (hints), so that
// policies apply often enough to give a healthy share of allows.
function genRequests(r, S, store, pools, n, hints = []) {
  const reqs = [];
  for (let i = 0; i < n; i++) {
    const permits = hints.filter((x) => x.effect === 'permit');
    let h = null;
    if (hints.length && r.chance(0.7)) h = permits.length && r.chance(0.75) ? r.pick(permits) : r.pick(hints);
    const a = h ? h.act : r.pick(S.appliedActions);
    const principal = h && h.principal && r.chance(0.8) ? h.principal
      : pickUid(r, S, store, pools, h ? h.Pt : r.pick(a.applies.principals), 0.85);
    const resource = h && h.resource && r.chance(0.8) ? h.resource
      : pickUid(r, S, store, pools, h ? h.Rt : r.pick(a.applies.resources), 0.85);
    const context = genRecordValue(r, S, store, pools, a.applies.ctx.attrs);
    reqs.push({ principal, action: { type: a.uid.type, id: a.uid.id }, resource, context });
  }
  return reqs;
}

module.exports = { genPools, genEntities, genRequests, pickUid, Store, EXT_FN };
