#!/usr/bin/env node
// validate_manifests: checks sluice's Kubernetes manifests with schema validators nobody here
// wrote, and the CRD schemas against real configurations.
//
//   node validate_manifests.js --manifests FILE [--defaults FILE] [--resources LIST]
//                              [--invalid FILE]...
//
//  --manifests  the rendered stream (`sluice install kubernetes`). Every built-in object is
//               validated by the `kubernetes-models` package (the Kubernetes OpenAPI schemas:
//               types, required fields, enums); every CRD must be a structural schema (the rules
//               the API server enforces); the Envoy bootstrap in the gateway-proxy-envoy-config
//               ConfigMap is checked field by field against Envoy's own protos (the pinned
//               @grpc/grpc-js-xds package ships them); and the objects must fit together
//               (selectors, ports, service accounts, role bindings, volumes, webhook rules).
//  --defaults   custom resources (YAML stream) that the CRD schemas must accept.
//  --resources  a list of files, one per line "PATH<TAB>KIND<TAB>NAMESPACE": YAML files whose
//               documents the CRD schemas must accept. KIND and NAMESPACE describe Gloo's flat
//               form (no apiVersion/kind/spec; converted here); leave them empty for files in the
//               Kubernetes form.
//  --invalid    custom resources the CRD schemas must reject; each names the part of the error
//               it expects in metadata.annotations["sluice.test/expect-error"].
//
// CRD schemas are applied with ajv (JSON Schema), the way the API server treats them with strict
// field validation (kubectl's default): unknown fields are errors except under
// x-kubernetes-preserve-unknown-fields.
//
// Prints one line per check ("ok ..." / "FAIL ...: why") and ends with "N passed, M failed".
// Exit status 0 when nothing failed, 1 otherwise, 2 on bad usage.
'use strict';

const fs = require('fs');
const path = require('path');
const { createRequire } = require('module');

// Packages come from the repository's node_modules (pinned in package.json), found relative to
// this file; NODE_PATH works as a fallback.
const repoRoot = path.resolve(__dirname, '..', '..');
const repoRequire = createRequire(path.join(repoRoot, 'package.json'));

function load(name) {
  try {
    return repoRequire(name);
  } catch (e) {
    process.stderr.write(`validate_manifests: cannot load the npm package ${name}: ${e.message}\n` +
                         'run `npm ci` at the repository root (package.json pins it)\n');
    console.log('0 passed, 1 failed');
    process.exit(1);
  }
}
const yaml = load('js-yaml');
const Ajv = load('ajv');
const protobuf = load('protobufjs');
load('kubernetes-models/v1');

// ------------------------------------------------------------------------------------------
// Arguments and reporting

function usage(message) {
  process.stderr.write(`validate_manifests: ${message}\n`);
  process.exit(2);
}

const args = { invalid: [] };
for (let i = 2; i < process.argv.length; i += 2) {
  const flag = process.argv[i];
  const value = process.argv[i + 1];
  if (value === undefined) usage(`${flag} needs a value`);
  if (flag === '--manifests') args.manifests = value;
  else if (flag === '--defaults') args.defaults = value;
  else if (flag === '--resources') args.resources = value;
  else if (flag === '--invalid') args.invalid.push(value);
  else usage(`unknown flag ${flag}`);
}
if (!args.manifests) usage('--manifests is required');

let passed = 0;
let failed = 0;
function ok(what) {
  passed++;
  console.log(`ok ${what}`);
}
function fail(what, why) {
  failed++;
  console.log(`FAIL ${what}: ${why}`);
}
function check(what, problems) {
  if (problems.length === 0) ok(what);
  else fail(what, problems.join('; '));
}

function loadStream(file) {
  return yaml.loadAll(fs.readFileSync(file, 'utf8')).filter((d) => d !== null && d !== undefined);
}

function describe(doc) {
  const m = doc.metadata || {};
  return `${doc.kind} ${m.namespace ? m.namespace + '/' : ''}${m.name}`;
}

// ------------------------------------------------------------------------------------------
// Built-in kinds: the kubernetes-models classes validate against the Kubernetes OpenAPI schema.

function validateBuiltin(doc) {
  let models;
  try {
    models = repoRequire(`kubernetes-models/${doc.apiVersion}`);
  } catch (e) {
    return [`kubernetes-models has no API ${doc.apiVersion}`];
  }
  const Model = models[doc.kind];
  if (typeof Model !== 'function') return [`kubernetes-models has no ${doc.apiVersion} ${doc.kind}`];
  try {
    new Model(doc).validate();
    return [];
  } catch (e) {
    return [e.message];
  }
}

// ------------------------------------------------------------------------------------------
// Structural schemas (Kubernetes "Specifying a structural schema"): every node has a type
// (except int-or-string and preserve-unknown-fields nodes), items for arrays, properties and
// additionalProperties never together, no $ref, and logical junctors carry value validations
// only (the int-or-string anyOf excepted).

const forbiddenInJunctors = ['type', 'properties', 'additionalProperties', 'items', 'description',
                             'default', 'nullable'];

function isIntOrStringPattern(schema, junctor) {
  const list = schema[junctor];
  return schema['x-kubernetes-int-or-string'] === true && junctor === 'anyOf' &&
         Array.isArray(list) && list.length === 2 &&
         list[0].type === 'integer' && list[1].type === 'string' &&
         Object.keys(list[0]).length === 1 && Object.keys(list[1]).length === 1;
}

function structural(schema, at, problems, stats) {
  if (typeof schema !== 'object' || schema === null) {
    problems.push(`${at}: not a schema`);
    return;
  }
  if ('$ref' in schema) problems.push(`${at}: $ref is not allowed`);
  const intOrString = schema['x-kubernetes-int-or-string'] === true;
  const preserve = schema['x-kubernetes-preserve-unknown-fields'] === true;
  if (preserve) stats.preserve.push(at);
  if (!schema.type && !intOrString && !preserve) problems.push(`${at}: no type`);
  if (intOrString && schema.type) problems.push(`${at}: int-or-string must not set a type`);
  if (schema.properties && schema.additionalProperties !== undefined) {
    problems.push(`${at}: properties and additionalProperties together`);
  }
  for (const junctor of ['allOf', 'anyOf', 'oneOf', 'not']) {
    if (!(junctor in schema) || isIntOrStringPattern(schema, junctor)) continue;
    const list = junctor === 'not' ? [schema.not] : schema[junctor];
    for (const sub of list) {
      for (const key of forbiddenInJunctors) {
        if (key in sub) problems.push(`${at}.${junctor}: ${key} is not allowed in a junctor`);
      }
    }
  }
  if (schema.type === 'object') {
    for (const [name, sub] of Object.entries(schema.properties || {})) {
      structural(sub, `${at}.${name}`, problems, stats);
    }
    if (typeof schema.additionalProperties === 'object') {
      structural(schema.additionalProperties, `${at}[*]`, problems, stats);
    }
  }
  if (schema.type === 'array') {
    if (!schema.items) problems.push(`${at}: an array needs items`);
    else structural(schema.items, `${at}[]`, problems, stats);
  }
}

// The OpenAPI schema as JSON Schema for ajv, with unknown fields refused where the API server
// would prune (and, under strict field validation, refuse) them.
function toJsonSchema(schema, atRoot = false) {
  if (typeof schema !== 'object' || schema === null) return schema;
  // The API server validates metadata as ObjectMeta itself; the CRD only says it is an object.
  if (atRoot === 'metadata') return { type: 'object' };
  const out = {};
  for (const [k, v] of Object.entries(schema)) {
    if (k.startsWith('x-kubernetes-')) continue;
    if (k === 'properties') {
      out.properties = {};
      for (const [name, sub] of Object.entries(v)) {
        out.properties[name] = toJsonSchema(sub, atRoot === true ? name : false);
      }
    } else if (k === 'items' || k === 'additionalProperties' || k === 'not') {
      out[k] = typeof v === 'object' ? toJsonSchema(v) : v;
    } else if (k === 'allOf' || k === 'anyOf' || k === 'oneOf') {
      out[k] = v.map(toJsonSchema);
    } else {
      out[k] = v;
    }
  }
  if (schema.type === 'object' && schema['x-kubernetes-preserve-unknown-fields'] !== true &&
      out.additionalProperties === undefined) {
    out.additionalProperties = false;
  }
  return out;
}

const ajv = new Ajv({ allErrors: true, strict: false });
ajv.addFormat('int32', { type: 'number', validate: (x) => Number.isInteger(x) && x >= -(2 ** 31) && x < 2 ** 31 });
ajv.addFormat('int64', { type: 'number', validate: (x) => Number.isInteger(x) });
ajv.addFormat('byte', { type: 'string', validate: (s) => /^[A-Za-z0-9+/]*={0,2}$/.test(s) && s.length % 4 === 0 });
ajv.addFormat('date-time', { type: 'string', validate: (s) => !Number.isNaN(Date.parse(s)) });

const crdValidators = new Map();  // "group/version Kind" -> ajv function
const pluralKinds = new Map();    // plural -> {group, version, kind}

function checkCrd(doc) {
  const problems = [];
  const spec = doc.spec || {};
  if (doc.metadata.name !== `${spec.names.plural}.${spec.group}`) {
    problems.push(`metadata.name must be ${spec.names.plural}.${spec.group}`);
  }
  const stats = { preserve: [] };
  for (const version of spec.versions || []) {
    const schema = version.schema && version.schema.openAPIV3Schema;
    if (!schema) {
      problems.push(`version ${version.name} has no schema`);
      continue;
    }
    structural(schema, 'openAPIV3Schema', problems, stats);
    try {
      crdValidators.set(`${spec.group}/${version.name} ${spec.names.kind}`,
                        ajv.compile(toJsonSchema(schema, true)));
    } catch (e) {
      problems.push(`ajv cannot compile the schema: ${e.message}`);
    }
    pluralKinds.set(spec.names.plural, { group: spec.group, version: version.name, kind: spec.names.kind });
  }
  check(`${describe(doc)}: structural schema (${stats.preserve.length} free-form fields)`, problems);
}

function validateCustom(doc, what) {
  const validate = crdValidators.get(`${doc.apiVersion} ${doc.kind}`);
  if (!validate) return [`no CRD in the manifests for ${doc.apiVersion} ${doc.kind} (${what})`];
  if (validate(doc)) return [];
  return validate.errors.map((e) => {
    const extra = e.params && e.params.additionalProperty ? ` "${e.params.additionalProperty}"` : '';
    return `${e.instancePath || '/'} ${e.message}${extra}`;
  });
}

// ------------------------------------------------------------------------------------------
// The Envoy bootstrap, field by field against Envoy's protos (proto or JSON field names, Any by
// its @type, enums by name or number, oneofs at most one member).

function loadEnvoyTypes() {
  const deps = path.join(path.dirname(repoRequire.resolve('@grpc/grpc-js-xds/package.json')), 'deps');
  const protobufDir = path.dirname(repoRequire.resolve('protobufjs/package.json'));
  const dirs = ['envoy-api', 'xds', 'googleapis', 'protoc-gen-validate'].map((d) => path.join(deps, d));
  dirs.push(protobufDir);
  const root = new protobuf.Root();
  root.resolvePath = (origin, target) => {
    for (const d of dirs) {
      const p = path.join(d, target);
      if (fs.existsSync(p)) return p;
    }
    return target;  // protobufjs bundles the other google/protobuf files
  };
  root.loadSync([
    'envoy/config/bootstrap/v3/bootstrap.proto',
    'envoy/extensions/filters/network/http_connection_manager/v3/http_connection_manager.proto',
    'envoy/extensions/filters/http/router/v3/router.proto',
    'envoy/extensions/upstreams/http/v3/http_protocol_options.proto',
  ], { keepCase: true });
  root.resolveAll();
  return root;
}

function camel(name) {
  return name.replace(/_([a-z0-9])/g, (m, c) => c.toUpperCase());
}

const scalarChecks = {
  string: (v) => typeof v === 'string',
  bool: (v) => typeof v === 'boolean',
  double: (v) => typeof v === 'number',
  float: (v) => typeof v === 'number',
  int32: (v) => Number.isInteger(v),
  sint32: (v) => Number.isInteger(v),
  sfixed32: (v) => Number.isInteger(v),
  uint32: (v) => Number.isInteger(v) && v >= 0,
  fixed32: (v) => Number.isInteger(v) && v >= 0,
  int64: (v) => Number.isInteger(v) || /^-?\d+$/.test(v),
  sint64: (v) => Number.isInteger(v) || /^-?\d+$/.test(v),
  sfixed64: (v) => Number.isInteger(v) || /^-?\d+$/.test(v),
  uint64: (v) => (Number.isInteger(v) && v >= 0) || /^\d+$/.test(v),
  fixed64: (v) => (Number.isInteger(v) && v >= 0) || /^\d+$/.test(v),
  bytes: (v) => typeof v === 'string',
};

function checkValue(root, field, value, at, problems) {
  const t = field.resolvedType;
  if (t instanceof protobuf.Enum) {
    if (!(typeof value === 'string' && value in t.values) && !Number.isInteger(value)) {
      problems.push(`${at}: ${JSON.stringify(value)} is not a value of ${t.fullName}`);
    }
  } else if (t instanceof protobuf.Type) {
    checkMessage(root, t, value, at, problems);
  } else if (!scalarChecks[field.type] || !scalarChecks[field.type](value)) {
    problems.push(`${at}: ${JSON.stringify(value)} is not a ${field.type}`);
  }
}

const wrapperTypes = {
  '.google.protobuf.BoolValue': 'bool', '.google.protobuf.StringValue': 'string',
  '.google.protobuf.UInt32Value': 'uint32', '.google.protobuf.Int32Value': 'int32',
  '.google.protobuf.UInt64Value': 'uint64', '.google.protobuf.Int64Value': 'int64',
  '.google.protobuf.DoubleValue': 'double', '.google.protobuf.FloatValue': 'float',
  '.google.protobuf.BytesValue': 'bytes',
};

function checkMessage(root, type, value, at, problems) {
  const name = type.fullName;
  if (name in wrapperTypes) {
    if (!scalarChecks[wrapperTypes[name]](value)) problems.push(`${at}: not a ${wrapperTypes[name]}`);
    return;
  }
  if (name === '.google.protobuf.Duration') {
    if (typeof value !== 'string' || !/^-?\d+(\.\d+)?s$/.test(value)) {
      problems.push(`${at}: ${JSON.stringify(value)} is not a duration like "5s"`);
    }
    return;
  }
  if (name === '.google.protobuf.Struct' || name === '.google.protobuf.Value' ||
      name === '.google.protobuf.ListValue') {
    return;
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    problems.push(`${at}: expected an object for ${name}`);
    return;
  }
  if (name === '.google.protobuf.Any') {
    const url = value['@type'];
    if (typeof url !== 'string') {
      problems.push(`${at}: an Any needs @type`);
      return;
    }
    let inner;
    try {
      inner = root.lookupType(url.slice(url.lastIndexOf('/') + 1));
    } catch (e) {
      problems.push(`${at}: unknown @type ${url}`);
      return;
    }
    const rest = Object.assign({}, value);
    delete rest['@type'];
    checkMessage(root, inner, rest, at, problems);
    return;
  }
  const byJson = {};
  for (const f of Object.values(type.fields)) byJson[camel(f.name)] = f;
  const setOneofs = {};
  for (const [key, v] of Object.entries(value)) {
    const field = type.fields[key] || byJson[key];
    const where = `${at}.${key}`;
    if (!field) {
      problems.push(`${where}: ${name} has no field ${key}`);
      continue;
    }
    if (field.partOf) {
      if (setOneofs[field.partOf.name]) {
        problems.push(`${where}: oneof ${field.partOf.name} already set by ${setOneofs[field.partOf.name]}`);
      }
      setOneofs[field.partOf.name] = key;
    }
    if (field.map) {
      if (typeof v !== 'object' || v === null || Array.isArray(v)) {
        problems.push(`${where}: expected a map`);
        continue;
      }
      for (const [mk, mv] of Object.entries(v)) checkValue(root, field, mv, `${where}[${mk}]`, problems);
    } else if (field.repeated) {
      if (!Array.isArray(v)) {
        problems.push(`${where}: expected a list`);
        continue;
      }
      v.forEach((item, i) => checkValue(root, field, item, `${where}[${i}]`, problems));
    } else {
      checkValue(root, field, v, where, problems);
    }
  }
}

// ------------------------------------------------------------------------------------------
// How the objects fit together.

function podTemplates(docs) {
  const out = [];
  for (const d of docs) {
    if (d.kind === 'Deployment' || d.kind === 'Job') {
      out.push({ owner: d, template: d.spec.template });
    }
  }
  return out;
}

function crossChecks(docs) {
  const byKind = (kind) => docs.filter((d) => d.kind === kind);
  const names = (kind) => new Set(byKind(kind).map((d) => d.metadata.name));
  const accounts = names('ServiceAccount');
  const configMaps = names('ConfigMap');
  const templates = podTemplates(docs);

  for (const { owner, template } of templates) {
    const problems = [];
    const labels = (template.metadata && template.metadata.labels) || {};
    if (owner.kind === 'Deployment') {
      for (const [k, v] of Object.entries(owner.spec.selector.matchLabels || {})) {
        if (labels[k] !== v) problems.push(`selector ${k}=${v} does not match the pod labels`);
      }
    }
    const account = template.spec.serviceAccountName;
    if (account && !accounts.has(account)) problems.push(`ServiceAccount ${account} is not in the manifests`);
    for (const v of template.spec.volumes || []) {
      if (v.configMap && !configMaps.has(v.configMap.name)) {
        problems.push(`volume ${v.name}: ConfigMap ${v.configMap.name} is not in the manifests`);
      }
    }
    const volumeNames = new Set((template.spec.volumes || []).map((v) => v.name));
    for (const c of template.spec.containers) {
      for (const m of c.volumeMounts || []) {
        if (!volumeNames.has(m.name)) problems.push(`container ${c.name} mounts unknown volume ${m.name}`);
      }
    }
    check(`${describe(owner)}: selector, service account, volumes`, problems);
  }

  for (const svc of byKind('Service')) {
    const problems = [];
    const selector = svc.spec.selector || {};
    const matches = templates.filter(({ owner, template }) =>
      owner.kind === 'Deployment' &&
      Object.entries(selector).every(([k, v]) => (template.metadata.labels || {})[k] === v));
    if (matches.length === 0) problems.push('selects no Deployment');
    for (const p of svc.spec.ports) {
      const found = matches.some(({ template }) => template.spec.containers.some((c) =>
        (c.ports || []).some((cp) => cp.containerPort === p.targetPort || cp.name === p.targetPort)));
      if (!found) problems.push(`port ${p.name} targets ${p.targetPort}, which no selected container exposes`);
    }
    check(`${describe(svc)}: selects pods that serve its ports`, problems);
  }

  const roles = new Set(byKind('Role').map((r) => `${r.metadata.namespace}/${r.metadata.name}`));
  const clusterRoles = names('ClusterRole');
  for (const b of byKind('RoleBinding').concat(byKind('ClusterRoleBinding'))) {
    const problems = [];
    const ref = b.roleRef;
    const exists = ref.kind === 'ClusterRole' ? clusterRoles.has(ref.name)
                                              : roles.has(`${b.metadata.namespace}/${ref.name}`);
    if (!exists) problems.push(`${ref.kind} ${ref.name} is not in the manifests`);
    for (const s of b.subjects) {
      if (s.kind === 'ServiceAccount' && !accounts.has(s.name)) problems.push(`ServiceAccount ${s.name} is not in the manifests`);
    }
    check(`${describe(b)}: role and subjects exist`, problems);
  }

  const services = new Map(byKind('Service').map((s) => [`${s.metadata.namespace}/${s.metadata.name}`, s]));
  for (const w of byKind('ValidatingWebhookConfiguration')) {
    const problems = [];
    for (const hook of w.webhooks) {
      const ref = hook.clientConfig.service;
      const svc = services.get(`${ref.namespace}/${ref.name}`);
      if (!svc) problems.push(`${hook.name}: Service ${ref.namespace}/${ref.name} is not in the manifests`);
      else if (!svc.spec.ports.some((p) => p.port === (ref.port || 443))) {
        problems.push(`${hook.name}: Service ${ref.name} has no port ${ref.port || 443}`);
      }
      for (const rule of hook.rules) {
        for (const res of rule.resources) {
          const group = rule.apiGroups[0];
          if (group === '') continue;  // core kinds
          const known = pluralKinds.get(res);
          if (!known || known.group !== group) problems.push(`${hook.name}: no CRD for ${res}.${group}`);
        }
      }
    }
    check(`${describe(w)}: webhooks point at a Service port and known resources`, problems);
  }
}

// ------------------------------------------------------------------------------------------
// Custom resources from files.

function kubeForm(doc, kind, namespace) {
  if (doc.apiVersion) return doc;
  const target = [...pluralKinds.values()].find((k) => k.kind === kind);
  const metadata = Object.assign({ namespace }, doc.metadata || {});
  const spec = Object.assign({}, doc);
  delete spec.metadata;
  delete spec.namespacedStatuses;
  return { apiVersion: target ? `${target.group}/${target.version}` : `unknown/${kind}`, kind,
           metadata, spec };
}

function checkResourceFile(file, kind, namespace) {
  let docs;
  try {
    docs = loadStream(file);
  } catch (e) {
    fail(file, `YAML: ${e.message}`);
    return;
  }
  docs.forEach((raw, i) => {
    if (raw.apiVersion === 'v1') {
      check(`${file}#${i} (${describe(raw)})`, validateBuiltin(raw));
      return;
    }
    const doc = kubeForm(raw, kind, namespace);
    check(`${file}#${i} (${describe(doc)})`, validateCustom(doc, file));
  });
}

// ------------------------------------------------------------------------------------------

function main() {
  const docs = loadStream(args.manifests);
  for (const doc of docs) {
    if (doc.kind === 'CustomResourceDefinition') checkCrd(doc);
  }
  for (const doc of docs) {
    check(`${describe(doc)}: valid ${doc.apiVersion} ${doc.kind}`, validateBuiltin(doc));
  }
  const bootstrapMap = docs.find((d) => d.kind === 'ConfigMap' && d.metadata.name === 'gateway-proxy-envoy-config');
  if (!bootstrapMap) {
    fail('gateway-proxy-envoy-config', 'missing');
  } else {
    const problems = [];
    const root = loadEnvoyTypes();
    const bootstrap = yaml.load(bootstrapMap.data['envoy.yaml']);
    checkMessage(root, root.lookupType('envoy.config.bootstrap.v3.Bootstrap'), bootstrap, 'envoy.yaml', problems);
    check('gateway-proxy-envoy-config envoy.yaml: valid envoy.config.bootstrap.v3.Bootstrap', problems);
  }
  crossChecks(docs);

  if (args.defaults) {
    for (const doc of loadStream(args.defaults)) {
      check(`default ${describe(doc)}: accepted by its CRD`, validateCustom(doc, args.defaults));
    }
  }
  if (args.resources) {
    const lines = fs.readFileSync(args.resources, 'utf8').split('\n').filter((l) => l.trim() !== '');
    for (const line of lines) {
      const [file, kind, namespace] = line.split('\t');
      checkResourceFile(file, kind || '', namespace || '');
    }
  }
  for (const file of args.invalid) {
    loadStream(file).forEach((doc, i) => {
      const expect = ((doc.metadata || {}).annotations || {})['sluice.test/expect-error'];
      const what = `${file}#${i} (${describe(doc)}) is rejected`;
      if (!expect) {
        fail(what, 'no sluice.test/expect-error annotation');
        return;
      }
      const problems = validateCustom(doc, file);
      if (problems.length === 0) fail(what, 'the CRD schema accepted it');
      else if (!problems.some((p) => p.includes(expect))) {
        fail(what, `expected an error mentioning ${JSON.stringify(expect)}, got: ${problems.join('; ')}`);
      } else ok(`${what}: ${problems.find((p) => p.includes(expect))}`);
    });
  }

  console.log(`${passed} passed, ${failed} failed`);
  process.exit(failed === 0 ? 0 : 1);
}

main();
