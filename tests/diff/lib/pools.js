'use strict';
// Value and name pools the generator draws from. Each case samples a few of
// each so that literals in policies often equal values in the entity data.

const NS_POOL = ['App', 'Acme', 'Acme::Core', 'N', 'photo_flash', 'X::Y::Z', 'Corp_2', 'a'];

// Entity type names (never schema-reserved names like String/Long/Set/Record).
const TYPE_POOL = [
  'User', 'Group', 'Team', 'Org', 'Doc', 'Folder', 'Photo', 'Album', 'Account', 'Device',
  'Project', 'Repo', 'Ticket', 'Tenant', 'Service', 'Node', 'Item', 'Bucket', 'Agent', 'Tool',
  'Session', 'Zone', 'k', '_T0', 'ipaddr', 'Thing2',
];
const ENUM_TYPE_POOL = ['Role', 'Color', 'Status', 'Region', 'Tier', 'Env'];
const ENUM_ID_POOL = ['admin', 'user', 'guest', 'red', 'green', 'blue', 'on', 'off', 'eu', 'us', '', 'a b', 'ünï', '"q"'];
const COMMON_POOL = ['Ctx', 'Info', 'Meta', 'Addr', 'Flags', 'Pair', 'Ts', 'Limits'];

// Attribute names. Identifier-like ones are accessed with `.name`; the others
// need `["name"]` / `has "name"`.
const ATTR_IDENT_POOL = [
  'name', 'age', 'level', 'owner', 'active', 'email', 'score', 'ip', 'created', 'ttl',
  'manager', 'members', 'meta', 'flags', 'tags', 'x', 'y', 'count', 'limit', 'kind',
  'label', 'budget', 'principal', 'context', 'when', 'deadline', 'addr', 'ratio', '_p', 'a1',
];
const ATTR_QUOTED_POOL = ['full name', 'if', 'in', 'has', 'true', 'a-b', 'ünï', '', '0lead', 'q"q', 'b\\s', 'tab\t', '🦀'];

const ACTION_POOL = [
  'read', 'write', 'view', 'edit', 'delete', 'list', 'share', 'admin', 'view doc', 'call_tool',
  'ünï', '', '"q"', 'a::b', 'Read', 'x\ny',
];
const GROUP_POOL = ['readers', 'writers', 'all', 'grp', 'Admin Actions', 'g::1'];

const ENTITY_ID_POOL = [
  'alice', 'bob', 'carol', 'dave', 'eve', 'admin', 'root', 'g1', 'g2', 'eng', 'ops', 'doc1',
  'doc2', 'f1', 'x', '', ' ', '\u0000', 'a"b', 'back\\', 'ünï', '🦀', 'x::y', 'Alice',
  'tab\there', '\u0001\u0014', '*', 'new\nline',
];

const STR_POOL = [
  '', 'a', 'abc', 'hello world', 'A', 'admin', 'read-only', '*', 'a*b', 'ünï', '🦀', 'x\ny',
  'q"q', 'back\\slash', '\u0000', 'tab\t', 'aaaa', 'abcabc', 'ABC', ' spaced ', 'alice', 'bob',
  "it's", 'é\u0301', '\u007f', 'Ωmega',
];

// JS-safe integers for entity/context JSON (|n| <= 2^53-1).
const INT_POOL = [
  0, 1, -1, 2, 3, 7, 10, 42, 100, -100, 1000, 65535, 2147483647, -2147483648, 4294967296,
  9007199254740991, -9007199254740991, 86400000, 3600000,
];
// Extra literals that may only appear in policy text (exact int64 edges).
const BIG_INT_POOL = [
  9223372036854775807n, -9223372036854775808n, -9223372036854775807n, 4611686018427387904n,
  3037000500n, -3037000500n, 9223372036854775806n, 4294967297n, 9007199254740993n,
];

const DEC_VALID = [
  '0.0', '1.0', '-1.5', '3.14', '12.3456', '100.0', '-0.0001', '0.5', '2.25', '1.00',
  '922337203685477.5807', '-922337203685477.5808', '7.0',
];
const DEC_INVALID = [
  '1', '1.23456', 'abc', '', '1.', '.5', '+1.0', '922337203685477.5808', '-922337203685477.5809',
  ' 1.0', '1.0 ', '1e3', '--1.0', '١.٠',
];
const IP_VALID = [
  '127.0.0.1', '10.0.0.1', '10.0.0.0/8', '192.168.1.1/24', '0.0.0.0/0', '255.255.255.255',
  '224.0.0.1', '::1', '::', 'fe80::1/64', '2001:db8::/32', 'ff02::1', '1.2.3.4/32', '127.0.0.1/7',
  '10.1.2.3', '::ffff:7f00:1', '192.168.0.0/16', 'ff00::/8', '127.5.5.5/8', '127.0.0.1/32',
  '0:0:0:0:0:0:0:1', 'FE80::1/64',
];
const IP_INVALID = [
  '1.2.3', '1.2.3.4/33', '::1/129', '::ffff:127.0.0.1', '01.2.3.4', '1.2.3.4/08', 'abc', '',
  ' 1.2.3.4', '1.2.3.256', '1.2.3.4/', '::1/0128', '1:2:3:4:5:6:7:8:9',
];
const DT_VALID = [
  '1970-01-01', '2024-10-15', '2024-10-15T11:35:00Z', '2024-10-15T11:35:00.123Z',
  '2024-10-15T11:35:00+0100', '2024-10-15T11:35:00.999-0930', '1969-12-31T23:59:59Z',
  '2000-02-29', '9999-12-31T23:59:59.999Z', '0001-01-01', '2024-01-01T00:00:00+2359',
  '2024-10-16', '2024-10-15T00:00:00Z', '1969-12-31', '1900-06-30T12:00:00-1200',
  '2024-10-15T10:35:00Z', '2024-10-15T10:35:00.000Z',
];
const DT_INVALID = [
  '2024-13-01', '2024-02-30', '2023-02-29', '2024-01-01T24:00:00Z', '2016-12-31T23:59:60Z',
  '2024-10-15Z', '2024-01-01T00:00:00', '2024-01-01T00:00:00+2400', '2024-01-01T00:00:00+0060',
  '24-01-01', '2024-1-01', '', '2024-01-01 ', '2024-01-01t00:00:00z', '2024-01-01T00:00:00.12Z',
  '+2024-01-01',
];
const DUR_VALID = [
  '0ms', '1ms', '1s', '1m', '1h', '1d', '-1d12h', '2h30m', '1d2h3m4s5ms', '-1ms', '90m',
  '86400000ms', '106751d', '9223372036854775807ms', '-9223372036854775808ms', '24h', '-0s',
  '60m', '3600s', '1d0h0m0s0ms',
];
const DUR_INVALID = [
  '', '-', '1', 'd', '1s1d', '1s1s', '1D', '1d9223372036854775807ms', '9223372036854775808ms',
  '1.5h', '- 1h', '1h ', '+1h', '1ms1s', 'ms',
];
const TAG_KEY_POOL = ['env', 'owner', 'level', 'a', '', 'Team', 'x y', 'ünï', 'secret'];

module.exports = {
  NS_POOL, TYPE_POOL, ENUM_TYPE_POOL, ENUM_ID_POOL, COMMON_POOL, ATTR_IDENT_POOL, ATTR_QUOTED_POOL,
  ACTION_POOL, GROUP_POOL, ENTITY_ID_POOL, STR_POOL, INT_POOL, BIG_INT_POOL,
  DEC_VALID, DEC_INVALID, IP_VALID, IP_INVALID, DT_VALID, DT_INVALID, DUR_VALID, DUR_INVALID,
  TAG_KEY_POOL,
};
