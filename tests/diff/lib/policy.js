'use strict';
// Random Cedar policies: a typed expression generator that aims at the
// schema (so attribute paths, tags and entity literals mostly exist), mixes in
// ill-typed and error-raising expressions, and prints with minimal
// parentheses (plus the odd redundant pair) to exercise precedence parsing.

const P = require('./pools');
const Sch = require('./schema');
const { BOOL, LONG, STR, EXT, EXT_NAMES, tSet, tEnt, typeKey, isPolicyIdent } = Sch;
const { pickUid } = require('./data');

// ---------------------------------------------------------------------------
// AST

const L = (v) => ({ t: 'lit', v }); // boolean | bigint | string
const V = (name) => ({ t: 'var', name });
const U = (type, id) => ({ t: 'uid', type, id });
const SET = (els) => ({ t: 'set', els });
const REC = (entries) => ({ t: 'rec', entries });
const CALL = (fn, args) => ({ t: 'call', fn, args });
const M = (recv, name, args = []) => ({ t: 'method', recv, name, args });
const A = (e, name) => ({ t: 'attr', e, name });
const HAS = (e, path) => ({ t: 'has', e, path });
const LIKE = (e, pat) => ({ t: 'like', e, pat });
const IS = (e, type, inE) => ({ t: 'is', e, type, in: inE || null });
const B = (op, l, r) => ({ t: 'bin', op, l, r });
const UN = (op, e) => ({ t: 'un', op, e });
const ITE = (c, a, b) => ({ t: 'ite', c, a, b });

const BIN_LEVEL = { '||': 1, '&&': 2, '==': 3, '!=': 3, '<': 3, '<=': 3, '>': 3, '>=': 3, in: 3, '+': 4, '-': 4, '*': 5 };

function level(n) {
  switch (n.t) {
    case 'ite': return 0;
    case 'bin': return BIN_LEVEL[n.op];
    case 'has': case 'like': case 'is': return 3;
    case 'un': return 6;
    case 'lit': return typeof n.v === 'bigint' && n.v < 0n ? 6 : 7;
    default: return 7;
  }
}

// ---------------------------------------------------------------------------
// Printing

class Printer {
  constructor(r) {
    this.r = r;
  }
  hex(c) {
    return c.toString(16);
  }
  escChar(ch, inPattern) {
    const r = this.r;
    const c = ch.codePointAt(0);
    if (ch === '*' && inPattern) return '\\*';
    if (ch === '"') return '\\"';
    if (ch === '\\') return '\\\\';
    if (ch === "'") return r.chance(0.5) ? "\\'" : "'";
    if (ch === '\n') return r.chance(0.8) ? '\\n' : '\\u{a}';
    if (ch === '\r') return '\\r';
    if (ch === '\t') return r.chance(0.8) ? '\\t' : '\\x09';
    if (c === 0) return r.pick(['\\0', '\\x00', '\\u{0}', '\\u{000000}']);
    if (c < 0x20 || c === 0x7f) {
      return r.chance(0.5) ? '\\x' + this.hex(c).padStart(2, '0') : '\\u{' + this.hex(c) + '}';
    }
    if (c >= 0x80) {
      if (!r.chance(0.2)) return ch;
      const h = this.hex(c);
      if (h.length > 2 && r.chance(0.1)) return '\\u{' + h.slice(0, 1) + '_' + h.slice(1) + '}';
      return '\\u{' + (r.chance(0.2) ? h.toUpperCase() : h) + '}';
    }
    if (r.chance(0.02)) return r.chance(0.5) ? '\\x' + this.hex(c) : '\\u{' + this.hex(c).padStart(r.int(2, 6), '0') + '}';
    return ch;
  }
  str(s) {
    let out = '"';
    for (const ch of s) out += this.escChar(ch, false);
    return out + '"';
  }
  pattern(pat) {
    let out = '"';
    for (const el of pat) {
      if (el === null) out += this.r.chance(0.04) ? this.r.pick(['\\u{2a}', '\\x2a']) : '*';
      else out += this.escChar(el, true);
    }
    return out + '"';
  }
  typeName(t) {
    return this.r.chance(0.01) ? t.split('::').join(' :: ') : t;
  }
  uid(type, id) {
    return this.typeName(type) + (this.r.chance(0.01) ? ' :: ' : '::') + this.str(id);
  }
  pr(n, min) {
    const s = this.raw(n);
    if (level(n) < min || this.r.chance(0.03)) return '(' + s + ')';
    return s;
  }
  raw(n) {
    const r = this.r;
    switch (n.t) {
      case 'lit':
        if (typeof n.v === 'boolean') return n.v ? 'true' : 'false';
        if (typeof n.v === 'bigint') return n.v.toString();
        return this.str(n.v);
      case 'var': return n.name;
      case 'uid': return this.uid(n.type, n.id);
      case 'set': return '[' + n.els.map((e) => this.pr(e, 0)).join(', ') + ']';
      case 'rec':
        return '{' + n.entries.map(([k, v]) => (isPolicyIdent(k) && r.chance(0.6) ? k : this.str(k)) + ': ' + this.pr(v, 0)).join(', ') + '}';
      case 'call': return n.fn + '(' + n.args.map((e) => this.pr(e, 0)).join(', ') + ')';
      case 'method':
        return this.pr(n.recv, 7) + '.' + n.name + '(' + n.args.map((e) => this.pr(e, 0)).join(', ') + ')';
      case 'attr':
        return this.pr(n.e, 7) + (isPolicyIdent(n.name) && r.chance(0.85) ? '.' + n.name : '[' + this.str(n.name) + ']');
      case 'has': {
        let rhs;
        if (n.path.length === 1) rhs = isPolicyIdent(n.path[0]) && r.chance(0.8) ? n.path[0] : this.str(n.path[0]);
        else rhs = n.path.join('.');
        return this.pr(n.e, 4) + ' has ' + rhs;
      }
      case 'like': return this.pr(n.e, 4) + ' like ' + this.pattern(n.pat);
      case 'is': return this.pr(n.e, 4) + ' is ' + this.typeName(n.type) + (n.in ? ' in ' + this.pr(n.in, 4) : '');
      case 'bin': {
        const lv = BIN_LEVEL[n.op];
        if (lv === 3) return this.pr(n.l, 4) + ' ' + n.op + ' ' + this.pr(n.r, 4);
        return this.pr(n.l, lv) + ' ' + n.op + ' ' + this.pr(n.r, lv + 1);
      }
      case 'un': {
        let count = 1;
        let inner = n.e;
        while (inner.t === 'un' && inner.op === n.op) {
          count++;
          inner = inner.e;
        }
        const negLit = n.op === '-' && inner.t === 'lit' && typeof inner.v === 'bigint';
        const total = count + (negLit && inner.v < 0n ? 1 : 0);
        if (count > 4 || total > 4) return n.op + '(' + this.pr(n.e, 0) + ')';
        if (negLit) return n.op.repeat(count) + inner.v.toString();
        return n.op.repeat(count) + this.pr(inner, 7);
      }
      case 'ite': return 'if ' + this.pr(n.c, 0) + ' then ' + this.pr(n.a, 0) + ' else ' + this.pr(n.b, 0);
    }
    throw new Error('bad node ' + n.t);
  }
}

// ---------------------------------------------------------------------------
// Expression generation

const DUR_TO = ['toMilliseconds', 'toSeconds', 'toMinutes', 'toHours', 'toDays'];
const CMP = ['<', '<=', '>', '>='];
const DEC_CMP = ['lessThan', 'lessThanOrEqual', 'greaterThan', 'greaterThanOrEqual'];
const IP_PRED = ['isIpv4', 'isIpv6', 'isLoopback', 'isMulticast'];
const EXT_POOLS = {
  decimal: ['DEC_VALID', 'DEC_INVALID'], ipaddr: ['IP_VALID', 'IP_INVALID'],
  datetime: ['DT_VALID', 'DT_INVALID'], duration: ['DUR_VALID', 'DUR_INVALID'],
};
const EXT_CTOR = { decimal: 'decimal', ipaddr: 'ip', datetime: 'datetime', duration: 'duration' };

class ExprGen {
  constructor(r, S, store, pools, opts = {}) {
    this.r = r;
    this.S = S;
    this.store = store;
    this.pools = pools;
    this.pIll = opts.pIll == null ? 0.035 : opts.pIll;
    this.ancCache = new Map();
    this.tagged = S.types.filter((t) => t.tags);
  }

  // Environment of one policy: the types the expressions aim at.
  setEnv(Pt, Rt, act) {
    this.Pt = Pt;
    this.Rt = Rt;
    this.act = act;
    const roots = [
      { ast: V('principal'), ty: tEnt(Pt), guards: [], names: [], deref: 0 },
      { ast: V('resource'), ty: tEnt(Rt), guards: [], names: [], deref: 0 },
      { ast: V('context'), ty: act.applies.ctx, guards: [], names: [], deref: 0 },
    ];
    this.roots = roots;
    const all = [];
    const queue = roots.slice();
    while (queue.length && all.length < 120) {
      const p = queue.shift();
      all.push(p);
      if (p.names.length >= 3) continue;
      let attrs = null;
      if (p.ty.k === 'Record') attrs = p.ty.attrs;
      else if (p.ty.k === 'Entity') {
        const et = this.S.typeByFull.get(p.ty.name);
        if (et && !et.enumIds && (p.deref < 1 || p.names.length === 0)) attrs = et.attrs;
      }
      if (!attrs) continue;
      for (const a of attrs) {
        queue.push({
          ast: A(p.ast, a.name), ty: a.type, parent: p, root: p.root || p,
          names: p.names.concat([a.name]),
          guards: a.req ? p.guards : p.guards.concat([{ base: p, name: a.name }]),
          deref: p.deref + (p.ty.k === 'Entity' && p.names.length ? 1 : 0),
        });
      }
    }
    this.paths = all;
    this.byKey = new Map();
    for (const p of all) {
      const k = typeKey(p.ty);
      if (!this.byKey.has(k)) this.byKey.set(k, []);
      this.byKey.get(k).push(p);
    }
    this.entPaths = all.filter((p) => p.ty.k === 'Entity');
    this.recPaths = all.filter((p) => p.ty.k === 'Record');
    this.setPaths = all.filter((p) => p.ty.k === 'Set');
  }

  ancestorsOrSelf(type) {
    if (this.ancCache.has(type)) return this.ancCache.get(type);
    const out = [type];
    const seen = new Set(out);
    for (let i = 0; i < out.length; i++) {
      const et = this.S.typeByFull.get(out[i]);
      if (!et) continue;
      for (const p of et.parents) {
        if (!seen.has(p)) {
          seen.add(p);
          out.push(p);
        }
      }
    }
    this.ancCache.set(type, out);
    return out;
  }

  randomType() {
    const r = this.r;
    const c = r.wpick([[25, 'path'], [12, 'Bool'], [14, 'Long'], [10, 'String'], [8, 'Set'], [8, 'Entity'], [12, 'Ext'], [3, 'Record']]);
    switch (c) {
      case 'path': return r.pick(this.paths).ty;
      case 'Bool': return BOOL;
      case 'Long': return LONG;
      case 'String': return STR;
      case 'Set': return tSet(r.pick([LONG, STR, tEnt(r.pick(this.S.types).full)]));
      case 'Entity': return tEnt(r.pick(this.S.types).full);
      case 'Ext': return EXT[r.pick(EXT_NAMES)];
      default: return { k: 'Record', attrs: [{ name: r.pick(P.ATTR_IDENT_POOL), type: LONG, req: true }] };
    }
  }

  // --- literals --------------------------------------------------------
  longLit() {
    const r = this.r;
    const c = r.wpick([[70, 'pool'], [15, 'any'], [15, 'big']]);
    if (c === 'pool') return L(BigInt(r.pick(this.pools.ints)));
    if (c === 'any') return L(BigInt(r.pick(P.INT_POOL)));
    return L(r.pick(P.BIG_INT_POOL));
  }
  strLit() {
    return L(this.r.chance(0.8) ? this.r.pick(this.pools.strs) : this.r.pick(P.STR_POOL));
  }
  extLit(name) {
    const r = this.r;
    const [valid, invalid] = EXT_POOLS[name];
    let s;
    const c = r.wpick([[80, 'pool'], [12, 'valid'], [this.typed ? 1 : 10, 'invalid']]);
    if (c === 'pool') s = r.pick(this.pools[name]);
    else if (c === 'valid') s = r.pick(P[valid]);
    else s = r.pick(P[invalid]);
    return CALL(EXT_CTOR[name], [L(s)]);
  }
  uidOf(type) {
    const r = this.r;
    const acts = this.S.actions.filter((a) => a.atype === type);
    if (acts.length) return U(type, r.pick(acts).id);
    const u = pickUid(r, this.S, this.store, this.pools, type, 0.8);
    return U(u.type, u.id);
  }
  literal(ty, d) {
    const r = this.r;
    switch (ty.k) {
      case 'Bool': return L(r.chance(0.5));
      case 'Long': return this.longLit();
      case 'String': return this.strLit();
      case 'Ext': return this.extLit(ty.name);
      case 'Entity': return this.uidOf(ty.name);
      case 'Set': {
        const n = r.wpick([[this.typed ? 0 : 15, 0], [35, 1], [35, 2], [15, 3]]);
        const els = [];
        for (let i = 0; i < n; i++) els.push(d > 1 ? this.gen(ty.el, d - 1) : this.literal(ty.el, 0));
        return SET(els);
      }
      case 'Record': {
        const entries = [];
        for (const a of ty.attrs) {
          if (a.req || r.chance(0.5)) entries.push([a.name, d > 1 ? this.gen(a.type, d - 1) : this.literal(a.type, 0)]);
        }
        if (r.chance(0.05)) {
          const k = r.pick(P.ATTR_IDENT_POOL);
          if (!entries.some((e) => e[0] === k)) entries.push([k, this.longLit()]); // extra attribute
        }
        return REC(entries);
      }
    }
    throw new Error('bad type');
  }

  leaf(ty) {
    let ps = this.byKey.get(typeKey(ty));
    // typed policies use unguarded optional attributes only rarely
    if (ps && this.typed && !this.r.chance(0.03)) ps = ps.filter((p) => !p.guards.length);
    if (ps && ps.length && this.r.chance(0.6)) return this.r.pick(ps).ast;
    return this.literal(ty, 0);
  }

  // --- generic ---------------------------------------------------------
  gen(ty, d) {
    const r = this.r;
    if (d > 0 && r.chance(this.typed ? this.pIll / 4 : this.pIll)) ty = this.randomType();
    if (d <= 0 || r.chance(0.2)) return this.leaf(ty);
    switch (ty.k) {
      case 'Bool': return this.genBool(d);
      case 'Long': return this.genLong(d);
      case 'String': return this.genString(d);
      case 'Set': return r.wpick([[50, 'lit'], [30, 'leaf'], [20, 'ite']]) === 'lit' ? this.literal(ty, d)
        : this.iteOr(ty, d);
      case 'Record': return r.chance(0.5) ? this.literal(ty, d) : this.iteOr(ty, d);
      case 'Entity': return this.genEntity(ty, d);
      case 'Ext': return this.genExt(ty.name, d);
    }
    throw new Error('bad type');
  }
  iteOr(ty, d) {
    if (this.r.chance(0.5)) return ITE(this.gen(BOOL, d - 1), this.gen(ty, d - 1), this.gen(ty, d - 1));
    return this.leaf(ty);
  }

  // an entity-valued expression together with its (intended) type
  entityExpr(d) {
    const r = this.r;
    const c = r.wpick([[30, 'principal'], [25, 'resource'], [20, 'path'], [15, 'lit'], [5, 'action'], [5, 'gen']]);
    switch (c) {
      case 'principal': return { ast: V('principal'), type: this.Pt };
      case 'resource': return { ast: V('resource'), type: this.Rt };
      case 'path': {
        const ps = this.entPaths.filter((p) => p.names.length);
        if (ps.length) {
          const p = r.pick(ps);
          return { ast: p.ast, type: p.ty.name };
        }
        return { ast: V('principal'), type: this.Pt };
      }
      case 'action': return { ast: V('action'), type: this.act.atype };
      case 'gen': {
        const t = r.pick(this.S.types).full;
        return { ast: this.gen(tEnt(t), d - 1), type: t };
      }
      default: {
        const t = r.pick(this.S.types).full;
        return { ast: this.uidOf(t), type: t };
      }
    }
  }

  // right-hand side of `in` for an entity of the given type
  inRhs(type, d) {
    const r = this.r;
    const c = r.wpick([[50, 'uid'], [25, 'set'], [15, 'path'], [10, 'gen']]);
    const anc = this.ancestorsOrSelf(type);
    const someUid = () => {
      if (type === this.act.atype || this.S.actions.some((a) => a.atype === type)) {
        const a = r.pick(this.S.actions.filter((x) => x.atype === type));
        const t = r.pick([a, ...a.ancestors]);
        return U(t.uid.type, t.uid.id);
      }
      return this.uidOf(r.chance(0.9) ? r.pick(anc) : r.pick(this.S.types).full);
    };
    switch (c) {
      case 'uid': return someUid();
      case 'set': {
        const n = r.int(this.typed ? 1 : 0, 3);
        const els = [];
        for (let i = 0; i < n; i++) els.push(someUid());
        return SET(els);
      }
      case 'path': {
        const ps = this.paths.filter((p) => p.names.length && (p.ty.k === 'Entity' || (p.ty.k === 'Set' && p.ty.el.k === 'Entity')));
        if (ps.length) return r.pick(ps).ast;
        return someUid();
      }
      default: return this.gen(r.chance(0.5) ? tEnt(r.pick(anc)) : tSet(tEnt(r.pick(anc))), d - 1);
    }
  }

  // `has` guard for a path with optional components
  guard(p) {
    const r = this.r;
    const first = p.guards[0].base; // deepest base that is always present
    // chain of ancestors from root to p
    const chain = [];
    for (let q = p; q; q = q.parent) chain.unshift(q);
    const firstIdx = chain.indexOf(first);
    const k = r.int(0, firstIdx);
    const names = p.names.slice(k);
    if (names.every(isPolicyIdent) && r.chance(0.7)) return HAS(chain[k].ast, names);
    let g = null;
    for (const gd of p.guards) {
      const h = HAS(gd.base.ast, [gd.name]);
      g = g ? B('&&', g, h) : h;
    }
    return g;
  }

  likePattern(d) {
    const r = this.r;
    const s = r.chance(0.85) ? r.pick(this.pools.strs) : r.pick(P.STR_POOL);
    const chars = Array.from(s);
    const pat = [];
    const mode = r.wpick([[30, 'exact'], [50, 'wild'], [20, 'random']]);
    if (mode === 'random') {
      const n = r.int(0, 5);
      for (let i = 0; i < n; i++) pat.push(r.chance(0.4) ? null : r.pick(['a', 'b', '*', 'ü', ' ', '\\', '"']));
      return pat;
    }
    for (const ch of chars) {
      if (mode === 'wild' && r.chance(0.3)) {
        if (pat[pat.length - 1] !== null || r.chance(0.3)) pat.push(null);
      } else pat.push(ch);
    }
    if (mode === 'wild' && r.chance(0.4)) pat.unshift(null);
    if (mode === 'wild' && r.chance(0.4)) pat.push(null);
    return pat;
  }

  // a boolean statement about a path (the workhorse for well-typed conditions)
  about(p, d) {
    const r = this.r;
    const e = p.ast;
    const t = p.ty;
    switch (t.k) {
      case 'Bool': return r.wpick([[50, e], [25, B('==', e, L(r.chance(0.5)))], [25, UN('!', e)]]);
      case 'Long': return B(r.pick([...CMP, '==', '!=']), e, r.chance(0.7) ? this.longLit() : this.gen(LONG, d - 1));
      case 'String': return r.chance(0.5) ? LIKE(e, this.likePattern(d)) : B(r.pick(['==', '!=']), e, this.gen(STR, d - 1));
      case 'Set': {
        const c = r.wpick([[45, 'contains'], [20, 'containsAny'], [15, 'containsAll'], [10, 'isEmpty'], [10, 'eq']]);
        if (c === 'contains') return M(e, 'contains', [this.gen(t.el, d - 1)]);
        if (c === 'isEmpty') return r.chance(0.5) ? M(e, 'isEmpty') : UN('!', M(e, 'isEmpty'));
        if (c === 'eq') return B('==', e, this.literal(t, d));
        return M(e, c, [this.literal(t, d)]);
      }
      case 'Entity': {
        const c = r.wpick([[40, 'in'], [25, 'eq'], [15, 'is'], [10, 'has'], [10, 'tag']]);
        if (c === 'in') return B('in', e, this.inRhs(t.name, d));
        if (c === 'eq') return B('==', e, this.uidOf(r.chance(0.9) ? t.name : r.pick(this.S.types).full));
        if (c === 'is') return IS(e, r.chance(0.6) ? t.name : r.pick(this.S.types).full, r.chance(0.3) ? this.inRhs(t.name, d) : null);
        if (c === 'has') return this.hasOn(e, t, d);
        return this.tagExpr(e, t.name, d);
      }
      case 'Record': return r.chance(0.7) ? this.hasOn(e, t, d) : B('==', e, this.literal(t, d));
      case 'Ext':
        switch (t.name) {
          case 'decimal': return M(e, r.pick(DEC_CMP), [this.gen(EXT.decimal, d - 1)]);
          case 'ipaddr': return r.chance(0.5) ? M(e, r.pick(IP_PRED)) : M(e, 'isInRange', [this.gen(EXT.ipaddr, d - 1)]);
          case 'datetime':
            if (r.chance(0.6)) return B(r.pick([...CMP, '==']), e, this.gen(EXT.datetime, d - 1));
            return B(r.pick(CMP), M(e, r.pick(['toTime', 'toDate'])), this.gen(r.chance(0.5) ? EXT.duration : EXT.datetime, d - 1));
          case 'duration':
            if (r.chance(0.5)) return B(r.pick([...CMP, '!=']), e, this.gen(EXT.duration, d - 1));
            return B(r.pick(CMP), M(e, r.pick(DUR_TO)), this.longLit());
        }
    }
    throw new Error('bad type ' + t.k);
  }

  hasOn(e, t, d) {
    const r = this.r;
    let attrs = [];
    if (t.k === 'Record') attrs = t.attrs;
    else if (t.k === 'Entity') {
      const et = this.S.typeByFull.get(t.name);
      if (et && !et.enumIds) attrs = et.attrs;
    }
    if (attrs.length && r.chance(0.75)) {
      const a = r.pick(attrs);
      const path = [a.name];
      // extend into nested records for dotted `has a.b.c`
      let at = a.type;
      while (at.k === 'Record' && at.attrs.length && r.chance(0.6) && path.every(isPolicyIdent)) {
        const b = r.pick(at.attrs);
        path.push(b.name);
        at = b.type;
      }
      if (path.length > 1 && !path.every(isPolicyIdent)) return HAS(e, [path[0]]);
      if (path.every(isPolicyIdent) && r.chance(0.1)) path.push(r.pick(P.ATTR_IDENT_POOL));
      return HAS(e, path);
    }
    const n = r.chance(0.85) ? r.pick(P.ATTR_IDENT_POOL) : r.pick(P.ATTR_QUOTED_POOL);
    return HAS(e, [n]);
  }

  tagKey(d) {
    const r = this.r;
    const c = r.wpick([[70, 'pool'], [15, 'any'], [15, 'gen']]);
    if (c === 'pool') return L(r.pick(this.pools.tagKeys));
    if (c === 'any') return L(r.pick(P.TAG_KEY_POOL));
    return this.gen(STR, d - 1);
  }

  tagExpr(e, type, d) {
    const r = this.r;
    const et = this.S.typeByFull.get(type);
    const key = this.tagKey(d);
    if (r.chance(0.45) || !et || !et.tags) return M(e, 'hasTag', [key]);
    const get = M(e, 'getTag', [key]);
    const guarded = (x) => (r.chance(this.typed ? 0.95 : 0.5) ? B('&&', M(e, 'hasTag', [key]), x) : x);
    switch (et.tags.k) {
      case 'Bool': return guarded(get);
      case 'Long': return guarded(B(r.pick(CMP), get, this.longLit()));
      case 'String': return guarded(r.chance(0.5) ? B('==', get, this.strLit()) : LIKE(get, this.likePattern(d)));
      case 'Set': return guarded(M(get, 'contains', [this.gen(et.tags.el, d - 1)]));
      case 'Ext': return guarded(this.about({ ast: get, ty: et.tags }, d));
      case 'Entity': return guarded(B('in', get, this.inRhs(et.tags.name, d)));
      default: return M(e, 'hasTag', [key]);
    }
  }

  genBool(d) {
    const r = this.r;
    const c = r.wpick([
      [12, 'andor'], [4, 'not'], [3, 'ite'], [24, 'about'], [7, 'eq'], [5, 'cmp'], [8, 'in'], [7, 'has'],
      [4, 'like'], [5, 'is'], [5, 'setop'], [5, 'tag'], [5, 'ext'], [4, 'action'],
    ]);
    switch (c) {
      case 'andor': return B(r.chance(0.55) ? '&&' : '||', this.gen(BOOL, d - 1), this.gen(BOOL, d - 1));
      case 'not': return UN('!', this.gen(BOOL, d - 1));
      case 'ite': return ITE(this.gen(BOOL, d - 1), this.gen(BOOL, d - 1), this.gen(BOOL, d - 1));
      case 'about': {
        const ps = this.paths.filter((p) => p.names.length);
        if (!ps.length) return this.genBool(d);
        const p = r.pick(ps);
        const e = this.about(p, d);
        if (p.guards.length && r.chance(this.typed ? 0.95 : 0.6)) {
          const g = this.guard(p);
          return r.chance(0.75) ? B('&&', g, e) : ITE(g, e, L(r.chance(0.5)));
        }
        return e;
      }
      case 'eq': {
        const t = r.chance(0.6) ? r.pick(this.paths).ty : this.randomType();
        const t2 = !this.typed && r.chance(0.1) ? this.randomType() : t;
        return B(r.chance(0.7) ? '==' : '!=', this.gen(t, d - 1), this.gen(t2, d - 1));
      }
      case 'cmp': {
        const t = r.wpick([[70, LONG], [15, EXT.datetime], [15, EXT.duration]]);
        return B(r.pick(CMP), this.gen(t, d - 1), this.gen(t, d - 1));
      }
      case 'in': {
        const { ast, type } = this.entityExpr(d);
        return B('in', ast, this.inRhs(type, d));
      }
      case 'has': {
        const cands = [...this.roots, ...this.entPaths, ...this.recPaths];
        const p = r.pick(cands);
        return this.hasOn(p.ast, p.ty, d);
      }
      case 'like': return LIKE(this.gen(STR, d - 1), this.likePattern(d));
      case 'is': {
        const { ast, type } = this.entityExpr(d);
        const c2 = r.wpick([[45, 'same'], [40, 'other'], [5, 'action'], [10, 'undeclared']]);
        let t = type;
        if (c2 === 'other') t = r.pick(this.S.types).full;
        else if (c2 === 'action') t = this.act.atype;
        else if (c2 === 'undeclared') t = r.pick(['Nope', 'X::Nope', 'Action', this.Pt + 'x']);
        return IS(ast, t, r.chance(0.3) ? this.inRhs(type, d) : null);
      }
      case 'setop': {
        const p = this.setPaths.length && r.chance(0.6) ? r.pick(this.setPaths) : null;
        const st = p ? p.ty : tSet(r.pick([LONG, STR, tEnt(r.pick(this.S.types).full)]));
        const s = p ? p.ast : this.literal(st, d);
        const op = r.wpick([[40, 'contains'], [20, 'containsAll'], [25, 'containsAny'], [15, 'isEmpty']]);
        if (op === 'isEmpty') return M(s, 'isEmpty');
        if (op === 'contains') return M(s, 'contains', [this.gen(st.el, d - 1)]);
        return M(s, op, [this.gen(st, d - 1)]);
      }
      case 'tag': {
        let e;
        let type;
        if (this.tagged.length && r.chance(0.8)) {
          // prefer an expression whose type has tags
          const cands = [...this.roots, ...this.entPaths].filter((p) => p.ty.k === 'Entity' && this.S.typeByFull.get(p.ty.name) && this.S.typeByFull.get(p.ty.name).tags);
          if (cands.length) {
            const p = r.pick(cands);
            e = p.ast;
            type = p.ty.name;
          } else {
            type = r.pick(this.tagged).full;
            e = this.uidOf(type);
          }
        } else {
          ({ ast: e, type } = this.entityExpr(d));
        }
        return this.tagExpr(e, type, d);
      }
      case 'ext': {
        const k = r.wpick([[35, 'dec'], [35, 'ip'], [15, 'dt'], [15, 'dur']]);
        if (k === 'dec') return M(this.gen(EXT.decimal, d - 1), r.pick(DEC_CMP), [this.gen(EXT.decimal, d - 1)]);
        if (k === 'ip') {
          if (r.chance(0.5)) return M(this.gen(EXT.ipaddr, d - 1), r.pick(IP_PRED));
          return M(this.gen(EXT.ipaddr, d - 1), 'isInRange', [this.gen(EXT.ipaddr, d - 1)]);
        }
        if (k === 'dt') return this.about({ ast: this.gen(EXT.datetime, d - 1), ty: EXT.datetime }, d);
        return this.about({ ast: this.gen(EXT.duration, d - 1), ty: EXT.duration }, d);
      }
      case 'action': {
        const a = this.act;
        const c2 = r.wpick([[40, 'in'], [30, 'eq'], [30, 'set']]);
        const other = () => r.pick(this.S.actions);
        if (c2 === 'eq') return B('==', V('action'), U(a.uid.type, (r.chance(0.6) ? a : other()).id));
        if (c2 === 'in') {
          const t = r.pick([a, ...a.ancestors, other()]);
          return B('in', V('action'), U(t.uid.type, t.id));
        }
        const els = [];
        const n = r.int(1, 3);
        for (let i = 0; i < n; i++) {
          const t = r.pick([a, ...a.ancestors, other()]);
          els.push(U(t.uid.type, t.id));
        }
        return B('in', V('action'), SET(els));
      }
    }
    throw new Error('unreachable');
  }

  genLong(d) {
    const r = this.r;
    const c = r.wpick([[8, 'add'], [6, 'sub'], [6, 'mul'], [4, 'neg'], [3, 'ite'], [6, 'dur'], [3, 'tag'], [6, 'leaf']]);
    switch (c) {
      case 'add': return B('+', this.gen(LONG, d - 1), this.gen(LONG, d - 1));
      case 'sub': return B('-', this.gen(LONG, d - 1), this.gen(LONG, d - 1));
      case 'mul': return B('*', this.gen(LONG, d - 1), this.gen(LONG, d - 1));
      case 'neg': return UN('-', this.gen(LONG, d - 1));
      case 'ite': return ITE(this.gen(BOOL, d - 1), this.gen(LONG, d - 1), this.gen(LONG, d - 1));
      case 'dur': return M(this.gen(EXT.duration, d - 1), r.pick(DUR_TO));
      case 'tag': return this.getTagOf(LONG, d);
      default: return this.leaf(LONG);
    }
  }

  genString(d) {
    const r = this.r;
    const c = r.wpick([[15, 'ite'], [15, 'tag'], [70, 'leaf']]);
    if (c === 'ite') return ITE(this.gen(BOOL, d - 1), this.gen(STR, d - 1), this.gen(STR, d - 1));
    if (c === 'tag') return this.getTagOf(STR, d);
    return this.leaf(STR);
  }

  getTagOf(ty, d) {
    const k = typeKey(ty);
    const cands = this.tagged.filter((t) => typeKey(t.tags) === k);
    if (!cands.length) return this.leaf(ty);
    const t = this.r.pick(cands);
    let e;
    if (t.full === this.Pt && this.r.chance(0.6)) e = V('principal');
    else if (t.full === this.Rt && this.r.chance(0.6)) e = V('resource');
    else e = this.uidOf(t.full);
    return M(e, 'getTag', [this.tagKey(d)]);
  }

  genEntity(ty, d) {
    const r = this.r;
    const c = r.wpick([[40, 'leaf'], [30, 'lit'], [15, 'ite'], [15, 'tag']]);
    if (c === 'lit') return this.uidOf(ty.name);
    if (c === 'ite') return ITE(this.gen(BOOL, d - 1), this.gen(ty, d - 1), this.gen(ty, d - 1));
    if (c === 'tag') return this.getTagOf(ty, d);
    if (ty.name === this.Pt && r.chance(0.4)) return V('principal');
    if (ty.name === this.Rt && r.chance(0.4)) return V('resource');
    return this.leaf(ty);
  }

  genExt(name, d) {
    const r = this.r;
    const c = r.wpick([[40, 'lit'], [25, 'leaf'], [10, 'ite'], [20, 'op'], [5, 'dyn']]);
    if (c === 'lit') return this.extLit(name);
    if (c === 'leaf') return this.leaf(EXT[name]);
    if (c === 'ite') return ITE(this.gen(BOOL, d - 1), this.gen(EXT[name], d - 1), this.gen(EXT[name], d - 1));
    if (c === 'dyn') return CALL(EXT_CTOR[name], [this.gen(STR, d - 1)]); // non-literal argument
    switch (name) {
      case 'datetime':
        return r.chance(0.6) ? M(this.gen(EXT.datetime, d - 1), 'offset', [this.gen(EXT.duration, d - 1)])
          : M(this.gen(EXT.datetime, d - 1), 'toDate');
      case 'duration':
        return r.chance(0.6) ? M(this.gen(EXT.datetime, d - 1), 'durationSince', [this.gen(EXT.datetime, d - 1)])
          : M(this.gen(EXT.datetime, d - 1), 'toTime');
      default:
        return this.getTagOf(EXT[name], d);
    }
  }
}

// ---------------------------------------------------------------------------
// Policies

function genPolicies(r, S, store, pools, n, opts) {
  const g = new ExprGen(r, S, store, pools, opts);
  // some cases are (almost) all typed policies, so they validate as a whole
  g.typedRate = r.wpick([[30, 0.25], [40, 0.6], [30, 0.97]]);
  const pr = new Printer(r);
  const texts = [];
  const hints = [];
  for (let i = 0; i < n; i++) {
    const hint = {};
    texts.push(genPolicy(r, S, g, pr, hint));
    hints.push(hint);
  }
  return { text: texts.join(r.chance(0.5) ? '\n\n' : '\n') + '\n', hints };
}

function genPolicy(r, S, g, pr, hint) {
  const act = r.pick(S.appliedActions);
  const Pt = r.pick(act.applies.principals);
  const Rt = r.pick(act.applies.resources);
  // A "typed" policy pins the scope so the validator knows the types, guards
  // optional attributes and avoids the validator's pet hates; the others are
  // freer and give most of the validation failures and runtime errors.
  const typed = r.chance(g.typedRate);
  g.setEnv(Pt, Rt, act);
  g.typed = typed;
  Object.assign(hint, { act, Pt, Rt, principal: null, resource: null });

  const entScope = (v, type, types) => {
    const c = typed && types.length > 1
      ? r.wpick([[25, 'eq'], [50, 'is'], [25, 'isin']])
      : r.wpick([[36, 'none'], [18, 'eq'], [24, 'in'], [13, 'is'], [9, 'isin']]);
    const anc = g.ancestorsOrSelf(type);
    const otherType = () => (typed || r.chance(0.85) ? type : r.pick(S.types).full);
    switch (c) {
      case 'none': return v;
      case 'eq': {
        const u = g.uidOf(otherType());
        if (u.type === type) hint[v] = { type: u.type, id: u.id };
        return v + ' == ' + pr.raw(u);
      }
      case 'in': {
        // often: an ancestor of an existing entity, which the requests then use
        const ids = g.store.ids(type);
        if (ids.length && r.chance(0.6)) {
          const e = { type, id: r.pick(ids) };
          const ancs = g.store.ancestors(e);
          if (ancs.length) {
            hint[v] = e;
            const a = r.pick(ancs);
            return v + ' in ' + pr.raw(U(a.type, a.id));
          }
        }
        return v + ' in ' + pr.raw(g.uidOf(r.chance(0.9) ? r.pick(anc) : r.pick(S.types).full));
      }
      case 'is': return v + ' is ' + pr.typeName(otherType());
      default: return v + ' is ' + pr.typeName(otherType()) + ' in ' + pr.raw(g.uidOf(r.pick(anc)));
    }
  };
  const actScope = () => {
    const c = typed ? r.wpick([[80, 'eq'], [20, 'one']])
      : r.wpick([[30, 'none'], [38, 'eq'], [13, 'in'], [17, 'list'], [2, 'empty']]);
    const u = (a) => pr.raw(U(a.uid.type, a.id));
    switch (c) {
      case 'none': return 'action';
      case 'eq': return 'action == ' + u(typed || r.chance(0.9) ? act : r.pick(S.actions));
      case 'one': return 'action in [' + u(act) + ']';
      case 'in': return 'action in ' + u(r.pick([act, ...act.ancestors]));
      case 'empty': return 'action in []';
      default: {
        const els = [u(act)];
        const n = r.int(0, 3);
        for (let i = 0; i < n; i++) els.push(u(r.pick(S.actions)));
        r.shuffle(els);
        return 'action in [' + els.join(', ') + ']';
      }
    }
  };

  const effect = r.chance(0.72) ? 'permit' : 'forbid';
  hint.effect = effect;
  const scope = [entScope('principal', Pt, act.applies.principals), actScope(), entScope('resource', Rt, act.applies.resources)];
  const nConds = r.wpick([[effect === 'permit' ? 25 : 0, 0], [50, 1], [20, 2], [5, 3]]);
  const conds = [];
  for (let i = 0; i < nConds; i++) {
    const d = r.wpick([[20, 1], [35, 2], [30, 3], [15, 4]]);
    const kw = r.chance(0.78) ? 'when' : 'unless';
    conds.push(kw + ' { ' + pr.pr(g.gen(BOOL, d), 0) + ' }');
  }
  let ann = '';
  if (r.chance(0.05)) ann += '// ' + r.pick(['a comment', 'permit(principal, action, resource);', 'ünï "q" \\']) + '\n';
  if (r.chance(0.08)) ann += '@id(' + pr.str(r.pick(['p', 'policy0', 'policy9', 'ünï'])) + ')\n';
  if (r.chance(0.05)) ann += '@advice\n';
  const multiline = r.chance(0.5);
  if (r.chance(0.03)) {
    // unusual but legal layout: tabs, newlines and comments between tokens
    return ann + effect + '\t(\n' + scope.join(' , // c\n') + '\n)\n' + conds.map((c) => c.replace(' { ', '\n{\t')).join('\n') + '\n;';
  }
  if (multiline) {
    return ann + effect + ' (\n  ' + scope.join(',\n  ') + '\n)' + conds.map((c) => '\n' + c).join('') + ';';
  }
  return ann + effect + '(' + scope.join(', ') + ')' + conds.map((c) => ' ' + c).join('') + ';';
}

module.exports = { genPolicies, Printer, ExprGen, L, V, U, B, UN, M, A, HAS, LIKE, IS, ITE, SET, REC, CALL };
