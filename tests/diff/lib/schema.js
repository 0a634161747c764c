'use strict';
// Random Cedar schemas: a model (used by the other generators) and its text
// in the Cedar schema format.

const P = require('./pools');

const BOOL = { k: 'Bool' };
const LONG = { k: 'Long' };
const STR = { k: 'String' };
const EXT = {
  decimal: { k: 'Ext', name: 'decimal' },
  ipaddr: { k: 'Ext', name: 'ipaddr' },
  datetime: { k: 'Ext', name: 'datetime' },
  duration: { k: 'Ext', name: 'duration' },
};
const EXT_NAMES = ['decimal', 'ipaddr', 'datetime', 'duration'];
const tSet = (el) => ({ k: 'Set', el });
const tEnt = (name) => ({ k: 'Entity', name });
const tRec = (attrs) => ({ k: 'Record', attrs }); // attrs: [{name, type, req}]

function typeKey(t) {
  switch (t.k) {
    case 'Bool': case 'Long': case 'String': return t.k;
    case 'Ext': return t.name;
    case 'Entity': return 'E:' + t.name;
    case 'Set': return 'Set<' + typeKey(t.el) + '>';
    case 'Record':
      return '{' + t.attrs.map((a) => JSON.stringify(a.name) + (a.req ? ':' : '?:') + typeKey(a.type))
        .sort().join(',') + '}';
  }
  throw new Error('bad type ' + JSON.stringify(t));
}

const IDENT_RE = /^[_a-zA-Z][_a-zA-Z0-9]*$/;
// Words the policy parser rejects as identifiers after `.`/in `has`/record keys.
const POLICY_RESERVED = new Set(['true', 'false', 'if', 'then', 'else', 'in', 'like', 'has', 'is', '__cedar']);
// Words we always quote in schema text.
const SCHEMA_KEYWORDS = new Set([...POLICY_RESERVED, 'entity', 'action', 'type', 'namespace', 'appliesTo',
  'principal', 'resource', 'context', 'tags', 'enum', 'Set', 'Bool', 'Boolean', 'Long', 'String',
  'Record', 'Entity', 'Extension']);
const isPolicyIdent = (s) => IDENT_RE.test(s) && !POLICY_RESERVED.has(s);

function qualify(ns, short) {
  return ns ? ns + '::' + short : short;
}

// ---------------------------------------------------------------------------
// Model

function genSchema(r) {
  const mode = r.wpick([[40, 'none'], [42, 'one'], [18, 'two']]);
  let nss;
  if (mode === 'none') nss = [''];
  else if (mode === 'one') nss = [r.pick(P.NS_POOL)];
  else if (r.chance(0.4)) nss = ['', r.pick(P.NS_POOL)];
  else nss = r.sample(P.NS_POOL, 2);

  const S = {
    nss,
    types: [], // {short, ns, full, enumIds|null, parents:[full], attrs:[...], tags: type|null}
    typeByFull: new Map(),
    commons: [], // {short, ns, full, type}
    actions: [], // {ns, id, atype, uid:{type,id}, parents:[action], applies:{principals, resources, ctx}|null}
    shadowedPrims: new Set(),
  };

  // Entity types. Short names are unique except that two *named* namespaces
  // may both declare the same short name.
  const nTypes = r.int(3, 7);
  const nEnums = r.wpick([[55, 0], [35, 1], [10, 2]]);
  const shorts = r.sample(P.TYPE_POOL, nTypes - nEnums).concat(r.sample(P.ENUM_TYPE_POOL, nEnums));
  const namedNss = nss.filter((n) => n);
  for (let i = 0; i < shorts.length; i++) {
    const isEnum = i >= nTypes - nEnums;
    const ns = r.pick(nss);
    const t = {
      short: shorts[i], ns, full: qualify(ns, shorts[i]),
      enumIds: isEnum ? r.sample(P.ENUM_ID_POOL, r.int(1, 4)) : null,
      parents: [], attrs: [], tags: null,
    };
    S.types.push(t);
  }
  if (namedNss.length === 2 && r.chance(0.3)) {
    // same short name in the other named namespace
    const src = S.types.find((t) => t.ns && !t.enumIds);
    if (src) {
      const other = namedNss.find((n) => n !== src.ns);
      S.types.push({ short: src.short, ns: other, full: qualify(other, src.short), enumIds: null,
        parents: [], attrs: [], tags: null });
    }
  }
  r.shuffle(S.types);
  for (const t of S.types) S.typeByFull.set(t.full, t);
  for (const t of S.types) {
    if (['ipaddr', 'decimal', 'datetime', 'duration'].includes(t.short)) S.shadowedPrims.add(t.short);
  }

  // Hierarchy: mostly "later in the list" so chains form; sometimes anything.
  S.types.forEach((t, i) => {
    if (t.enumIds) return;
    const n = r.wpick([[35, 0], [45, 1], [20, 2]]);
    for (let j = 0; j < n; j++) {
      const later = S.types.slice(i + 1);
      const cand = later.length && r.chance(0.85) ? r.pick(later) : r.pick(S.types);
      if (!t.parents.includes(cand.full)) t.parents.push(cand.full);
    }
  });

  // Common types (declared before attributes so attributes can use them).
  const nCommon = r.wpick([[60, 0], [28, 1], [12, 2]]);
  const commonShorts = r.sample(P.COMMON_POOL, nCommon);
  for (const short of commonShorts) {
    const ns = r.pick(nss);
    // a fresh object: aliases are looked up by object identity when printing
    const type = Object.assign({}, r.chance(0.7) ? genRecordType(r, S, 1, 1, 4) : genAttrType(r, S, 1, false));
    S.commons.push({ short, ns, full: qualify(ns, short), type });
  }

  for (const t of S.types) {
    if (t.enumIds) continue;
    t.attrs = genAttrs(r, S, r.int(0, 5), 2);
    if (r.chance(0.3)) {
      t.tags = r.wpick([[30, STR], [20, LONG], [10, BOOL], [10, tSet(STR)], [10, EXT.decimal],
        [8, EXT.datetime], [12, tEnt(r.pick(S.types).full)]]);
    }
  }

  // Actions: groups (no appliesTo) first, then actions; parents only earlier.
  const nGroups = r.wpick([[45, 0], [35, 1], [20, 2]]);
  const nActs = r.int(2, 5);
  const usedIds = new Map(nss.map((n) => [n, new Set()]));
  const mk = (id, ns, isGroup) => {
    const used = usedIds.get(ns);
    if (used.has(id)) return null;
    used.add(id);
    const atype = qualify(ns, 'Action');
    return { ns, id, atype, uid: { type: atype, id }, parents: [], applies: null, isGroup };
  };
  for (const id of r.sample(P.GROUP_POOL, nGroups)) {
    const a = mk(id, r.pick(nss), true);
    if (a) S.actions.push(a);
  }
  for (const id of r.sample(P.ACTION_POOL, nActs)) {
    const a = mk(id, r.pick(nss), false);
    if (!a) continue;
    const pick12 = () => {
      const n = r.wpick([[70, 1], [30, 2]]);
      const out = [];
      for (let i = 0; i < n; i++) {
        const t = r.chance(0.85) ? r.pick(S.types.filter((x) => !x.enumIds)) : r.pick(S.types);
        if (!out.includes(t.full)) out.push(t.full);
      }
      return out;
    };
    let ctx;
    const recCommons = S.commons.filter((c) => c.type.k === 'Record');
    if (recCommons.length && r.chance(0.3)) ctx = r.pick(recCommons).type;
    else ctx = genRecordType(r, S, 2, 0, 4);
    a.applies = { principals: pick12(), resources: pick12(), ctx };
    S.actions.push(a);
  }
  // action parents (same namespace, earlier in list, so acyclic)
  S.actions.forEach((a, i) => {
    const earlier = S.actions.slice(0, i).filter((b) => b.ns === a.ns || (a.ns && b.ns && r.chance(0.3)));
    if (!earlier.length) return;
    const n = r.wpick([[40, 0], [45, 1], [15, 2]]);
    for (let j = 0; j < n; j++) {
      const p = r.pick(earlier);
      if (!a.parents.includes(p)) a.parents.push(p);
    }
  });
  for (const a of S.actions) a.ancestors = actionAncestors(a);
  S.appliedActions = S.actions.filter((a) => a.applies);
  return S;
}

function actionAncestors(a) {
  const out = new Set();
  const stack = [...a.parents];
  while (stack.length) {
    const p = stack.pop();
    if (out.has(p)) continue;
    out.add(p);
    stack.push(...p.parents);
  }
  return [...out];
}

function genAttrName(r, used) {
  for (let i = 0; i < 10; i++) {
    const n = r.chance(0.9) ? r.pick(P.ATTR_IDENT_POOL) : r.pick(P.ATTR_QUOTED_POOL);
    if (!used.has(n)) {
      used.add(n);
      return n;
    }
  }
  return null;
}

function genAttrs(r, S, n, depth) {
  const used = new Set();
  const out = [];
  for (let i = 0; i < n; i++) {
    const name = genAttrName(r, used);
    if (name === null) continue;
    out.push({ name, type: genAttrType(r, S, depth, true), req: r.chance(0.7) });
  }
  return out;
}

function genRecordType(r, S, depth, lo, hi) {
  return tRec(genAttrs(r, S, r.int(lo, hi), depth));
}

function genAttrType(r, S, depth, allowCommon) {
  const choices = [
    [16, 'Long'], [16, 'String'], [10, 'Bool'], [14, 'Entity'], [16, 'Ext'], [12, 'Set'],
  ];
  if (depth > 0) choices.push([8, 'Record']);
  if (allowCommon && S.commons.length) choices.push([6, 'Common']);
  switch (r.wpick(choices)) {
    case 'Long': return LONG;
    case 'String': return STR;
    case 'Bool': return BOOL;
    case 'Entity': return tEnt(r.pick(S.types).full);
    case 'Ext': return EXT[r.pick(EXT_NAMES)];
    case 'Set': {
      const el = r.wpick([[20, LONG], [20, STR], [20, 'ent'], [10, 'ext'], [5, BOOL], [6, 'rec'], [4, 'set']]);
      if (el === 'ent') return tSet(tEnt(r.pick(S.types).full));
      if (el === 'ext') return tSet(EXT[r.pick(EXT_NAMES)]);
      if (el === 'rec') return tSet(genRecordType(r, S, 0, 1, 2));
      if (el === 'set') return tSet(tSet(r.pick([LONG, STR])));
      return tSet(el);
    }
    case 'Record': return genRecordType(r, S, depth - 1, 0, 3);
    case 'Common': return r.pick(S.commons).type;
  }
  throw new Error('unreachable');
}

// ---------------------------------------------------------------------------
// Text

function quoteStr(s) {
  // JSON.stringify gives \uXXXX escapes which Cedar does not accept; use \u{..}.
  let out = '"';
  for (const ch of s) {
    const c = ch.codePointAt(0);
    if (ch === '"') out += '\\"';
    else if (ch === '\\') out += '\\\\';
    else if (ch === '\n') out += '\\n';
    else if (ch === '\r') out += '\\r';
    else if (ch === '\t') out += '\\t';
    else if (c === 0) out += '\\0';
    else if (c < 0x20 || c === 0x7f) out += '\\u{' + c.toString(16) + '}';
    else out += ch;
  }
  return out + '"';
}

function printSchema(r, S) {
  const commonFor = new Map(); // type object -> common decl
  for (const c of S.commons) commonFor.set(c.type, c);
  // short names visible as entity/common types somewhere: force __cedar:: on clashes
  const clash = new Set([...S.shadowedPrims]);
  for (const c of S.commons) clash.add(c.short);

  const ref = (full, ns, short, inNs) => {
    if (!ns) return short;
    if (ns === inNs && r.chance(0.7)) return short;
    return full;
  };
  const attrName = (n) => (IDENT_RE.test(n) && !SCHEMA_KEYWORDS.has(n) && r.chance(0.75) ? n : quoteStr(n));
  const prim = (n) => (clash.has(n) || r.chance(0.08) ? '__cedar::' + n : n);
  const ty = (t, inNs, top) => {
    const c = commonFor.get(t);
    if (c && !top) return ref(c.full, c.ns, c.short, inNs);
    switch (t.k) {
      case 'Bool': return prim('Bool');
      case 'Long': return prim('Long');
      case 'String': return prim('String');
      case 'Ext': return prim(t.name);
      case 'Entity': {
        const et = S.typeByFull.get(t.name);
        return ref(et.full, et.ns, et.short, inNs);
      }
      case 'Set': return 'Set<' + ty(t.el, inNs) + '>';
      case 'Record': return rec(t, inNs, '  ');
    }
    throw new Error('bad type');
  };
  const rec = (t, inNs, ind) => {
    if (!t.attrs.length) return '{}';
    const parts = t.attrs.map((a) => ind + '  ' + attrName(a.name) + (a.req ? '' : '?') + ': ' + ty(a.type, inNs));
    return '{\n' + parts.join(',\n') + (r.chance(0.3) ? ',' : '') + '\n' + ind + '}';
  };
  const ann = () => (r.chance(0.08) ? '@doc(' + quoteStr(r.pick(['a doc', 'ünï', 'x"y'])) + ')\n' : '');
  const actName = (a, inNs) => {
    if (a.ns === inNs) {
      return IDENT_RE.test(a.id) && !SCHEMA_KEYWORDS.has(a.id) && r.chance(0.5) ? a.id : quoteStr(a.id);
    }
    return qualify(a.ns, 'Action') + '::' + quoteStr(a.id);
  };
  const actRef = (a, inNs) => {
    if (a.ns === inNs && r.chance(0.6)) return actName(a, inNs);
    return qualify(a.ns, 'Action') + '::' + quoteStr(a.id);
  };
  const entList = (fulls, inNs) => {
    const names = fulls.map((f) => {
      const et = S.typeByFull.get(f);
      return ref(et.full, et.ns, et.short, inNs);
    });
    return names.length === 1 && r.chance(0.5) ? names[0] : '[' + names.join(', ') + ']';
  };

  const blocks = [];
  for (const ns of r.shuffle(S.nss.slice())) {
    const decls = [];
    for (const c of S.commons) {
      if (c.ns !== ns) continue;
      decls.push(ann() + 'type ' + c.short + ' = ' + ty(c.type, ns, true) + ';');
    }
    for (const t of S.types) {
      if (t.ns !== ns) continue;
      if (t.enumIds) {
        decls.push(ann() + 'entity ' + t.short + ' enum [' + t.enumIds.map(quoteStr).join(', ') + '];');
        continue;
      }
      let s = ann() + 'entity ' + t.short;
      if (t.parents.length) s += ' in ' + entList(t.parents, ns);
      const shape = tRec(t.attrs);
      if (t.attrs.length || r.chance(0.4)) s += (r.chance(0.3) ? ' = ' : ' ') + rec(shape, ns, '');
      if (t.tags) s += ' tags ' + ty(t.tags, ns);
      decls.push(s + ';');
    }
    for (const a of S.actions) {
      if (a.ns !== ns) continue;
      let s = ann() + 'action ' + actName(a, ns);
      if (a.parents.length) {
        const ps = a.parents.map((p) => actRef(p, ns));
        s += ' in ' + (ps.length === 1 && r.chance(0.5) ? ps[0] : '[' + ps.join(', ') + ']');
      }
      if (a.applies) {
        const parts = [
          'principal: ' + entList(a.applies.principals, ns),
          'resource: ' + entList(a.applies.resources, ns),
        ];
        const c = commonFor.get(a.applies.ctx);
        if (c) parts.push('context: ' + ref(c.full, c.ns, c.short, ns));
        else if (a.applies.ctx.attrs.length || r.chance(0.5)) parts.push('context: ' + rec(a.applies.ctx, ns, '  '));
        s += ' appliesTo {\n  ' + r.shuffle(parts).join(',\n  ') + '\n}';
      }
      decls.push(s + ';');
    }
    r.shuffle(decls);
    if (ns) {
      const body = decls.map((d) => d.split('\n').map((l) => '  ' + l).join('\n')).join('\n');
      blocks.push('namespace ' + ns + ' {\n' + body + '\n}');
    } else {
      blocks.push(decls.join('\n'));
    }
  }
  let text = blocks.join('\n');
  if (r.chance(0.1)) text = '// generated schema\n' + text;
  return text + '\n';
}

// The same schema in the JSON schema format, every name fully qualified.
// cedar-wasm is given this form (parsing Cedar schema text is its slowest
// step); the text form is what the test files hold. casegen.js cross-checks
// the two on a sample of cases.
function schemaJson(S) {
  const commonFor = new Map();
  for (const c of S.commons) commonFor.set(c.type, c);
  const ty = (t, top) => {
    const c = commonFor.get(t);
    if (c && !top) return { type: c.full };
    switch (t.k) {
      case 'Bool': return { type: 'Boolean' };
      case 'Long': return { type: 'Long' };
      case 'String': return { type: 'String' };
      case 'Ext': return { type: 'Extension', name: t.name };
      case 'Entity': return { type: 'Entity', name: t.name };
      case 'Set': return { type: 'Set', element: ty(t.el) };
      case 'Record': {
        const attributes = {};
        for (const a of t.attrs) attributes[a.name] = Object.assign(ty(a.type), { required: a.req });
        return { type: 'Record', attributes };
      }
    }
    throw new Error('bad type');
  };
  const out = {};
  for (const ns of S.nss) out[ns] = { entityTypes: {}, actions: {}, commonTypes: {} };
  for (const c of S.commons) out[c.ns].commonTypes[c.short] = ty(c.type, true);
  for (const t of S.types) {
    if (t.enumIds) out[t.ns].entityTypes[t.short] = { enum: t.enumIds.slice() };
    else {
      const e = { memberOfTypes: t.parents.slice(), shape: ty({ k: 'Record', attrs: t.attrs }, true) };
      if (t.tags) e.tags = ty(t.tags);
      out[t.ns].entityTypes[t.short] = e;
    }
  }
  for (const a of S.actions) {
    const j = {};
    if (a.parents.length) j.memberOf = a.parents.map((p) => ({ id: p.id, type: p.atype }));
    if (a.applies) {
      j.appliesTo = {
        principalTypes: a.applies.principals.slice(),
        resourceTypes: a.applies.resources.slice(),
        context: ty(a.applies.ctx),
      };
    }
    out[a.ns].actions[a.id] = j;
  }
  return out;
}

module.exports = {
  schemaJson,
  BOOL, LONG, STR, EXT, EXT_NAMES, tSet, tEnt, tRec, typeKey, genSchema, printSchema, quoteStr,
  isPolicyIdent, IDENT_RE, POLICY_RESERVED, qualify,
};
