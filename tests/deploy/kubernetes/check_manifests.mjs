// Checks one rendered overlay (kubectl kustomize output, multi-document
// YAML on stdin): every object against the upstream OpenAPI schema
// (kubernetes-models, @kubernetes-models/prometheus-operator: .validate()),
// then what no schema knows: the args are real tokenmeter flags, ports agree
// between args, containers, Service, probes and monitors, every referenced
// Secret/ConfigMap/volume exists, GPUs requested exactly on GPU workers.
// usage: node check_manifests.mjs OVERLAY_NAME TOKENMETER_BINARY < rendered.yaml
import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { parseAllDocuments } from "yaml";

const [overlay, tokenmeter] = process.argv.slice(2);
if (!overlay || !tokenmeter) {
  console.error("usage: node check_manifests.mjs OVERLAY_NAME TOKENMETER_BINARY < rendered.yaml");
  process.exit(2);
}
const failures = [];
const fail = (what) => failures.push(`${overlay}: ${what}`);

const objects = parseAllDocuments(readFileSync(0, "utf8")).map((d) => {
  if (d.errors.length) throw new Error(`${overlay}: YAML: ${d.errors[0].message}`);
  return d.toJS();
}).filter(Boolean);
// kustomize folds a Secret's base64 at 70 columns; Go's base64 decoder (the
// API server's) skips the newlines, the schema's "byte" format does not.
for (const o of objects) {
  if (o.kind === "Secret") for (const k of Object.keys(o.data ?? {})) o.data[k] = o.data[k].replace(/\s+/g, "");
}
const id = (o) => `${o.kind}/${o.metadata?.name}`;

// 1. Schemas. apiVersion "v1" is core; "group/version" otherwise.
async function modelFor(apiVersion, kind) {
  const pkg = apiVersion.startsWith("monitoring.coreos.com/")
    ? "@kubernetes-models/prometheus-operator" : "kubernetes-models";
  const mod = await import(`${pkg}/${apiVersion}/${kind}`);
  return mod[kind];
}
for (const o of objects) {
  let Model;
  try {
    Model = await modelFor(o.apiVersion, o.kind);
  } catch {
    fail(`${id(o)}: no schema for ${o.apiVersion} ${o.kind}`);
    continue;
  }
  try {
    new Model(o).validate();
  } catch (e) {
    fail(`${id(o)}: schema: ${e.message}`);
  }
}

// 2. Cross-object checks.
const byKind = (kind) => objects.filter((o) => o.kind === kind);
const named = (kind, name) => objects.find((o) => o.kind === kind && o.metadata?.name === name);
const workloads = objects.filter((o) => ["StatefulSet", "DaemonSet", "Job", "Deployment"].includes(o.kind));

const flagsOf = new Map();
function realFlags(sub) {
  if (!flagsOf.has(sub)) {
    const help = execFileSync(tokenmeter, [sub, "--help"], { encoding: "utf8" });
    flagsOf.set(sub, new Set([...help.matchAll(/^\s+(--[a-z0-9-]+)/gm)].map((m) => m[1])));
  }
  return flagsOf.get(sub);
}

// The container's environment as the kubelet builds it, for $(VAR) in args.
function envOf(w, c) {
  const env = {};
  for (const from of c.envFrom ?? []) {
    const cm = from.configMapRef && named("ConfigMap", from.configMapRef.name);
    if (cm) Object.assign(env, cm.data);
  }
  for (const e of c.env ?? []) if (e.value !== undefined) env[e.name] = e.value;
  if (w.kind === "Job" && w.spec.completionMode === "Indexed") env.JOB_COMPLETION_INDEX = "0";
  return env;
}
function expand(arg, env, where) {
  return arg.replace(/\$\(([A-Za-z_][A-Za-z0-9_]*)\)/g, (_, v) => {
    if (env[v] === undefined) fail(`${where}: $(${v}) is set by no env or envFrom`);
    return env[v] ?? "";
  });
}
function flagValue(args, flag) {
  const i = args.indexOf(flag);
  return i >= 0 ? args[i + 1] : undefined;
}
const portOf = (address) => Number(address?.split(":").pop());

const containers = [];  // { w, c, where, args }
for (const w of workloads) {
  const pod = w.spec.template.spec;
  for (const c of pod.containers) {
    const where = `${id(w)} container ${c.name}`;
    const env = envOf(w, c);
    const args = (c.args ?? []).map((a) => expand(String(a), env, where));
    containers.push({ w, c, where, args });
    // Real flags of the subcommand named by the first argument.
    const flags = realFlags(args[0]);
    for (const a of args) if (a.startsWith("--") && !flags.has(a)) fail(`${where}: ${a} is no flag of tokenmeter ${args[0]}`);
    // Referenced objects exist.
    for (const from of c.envFrom ?? []) {
      if (from.configMapRef && !named("ConfigMap", from.configMapRef.name)) fail(`${where}: envFrom ConfigMap ${from.configMapRef.name} missing`);
      if (from.secretRef && !named("Secret", from.secretRef.name)) fail(`${where}: envFrom Secret ${from.secretRef.name} missing`);
    }
    for (const e of c.env ?? []) {
      const ref = e.valueFrom?.secretKeyRef ?? e.valueFrom?.configMapKeyRef;
      const kind = e.valueFrom?.secretKeyRef ? "Secret" : "ConfigMap";
      if (ref && !named(kind, ref.name)?.data?.[ref.key]) fail(`${where}: env ${e.name}: ${kind} ${ref.name} key ${ref.key} missing`);
    }
    const volumes = new Set([...(pod.volumes ?? []).map((v) => v.name), ...(w.spec.volumeClaimTemplates ?? []).map((t) => t.metadata.name)]);
    for (const m of c.volumeMounts ?? []) if (!volumes.has(m.name)) fail(`${where}: volumeMount ${m.name} names no volume`);
    // Files passed as flags lie in a mounted volume, under a key the Secret has.
    for (const flag of ["--token-file", "--tls-cert", "--tls-key", "--tls-ca"]) {
      const file = flagValue(args, flag);
      if (!file) continue;
      const m = (c.volumeMounts ?? []).find((vm) => file.startsWith(vm.mountPath + "/"));
      const v = m && (pod.volumes ?? []).find((vol) => vol.name === m.name);
      const secret = v?.secret && named("Secret", v.secret.secretName);
      const key = file.slice(m ? m.mountPath.length + 1 : 0);
      if (!secret || !(secret.data?.[key] ?? secret.stringData?.[key])) fail(`${where}: ${flag} ${file} is no key of a mounted Secret`);
    }
  }
  for (const v of pod.volumes ?? []) {
    if (v.secret && !named("Secret", v.secret.secretName)) fail(`${id(w)}: volume ${v.name}: Secret ${v.secret.secretName} missing`);
    if (v.configMap && !named("ConfigMap", v.configMap.name)) fail(`${id(w)}: volume ${v.name}: ConfigMap ${v.configMap.name} missing`);
  }
}

const labelsMatch = (selector, labels) => Object.entries(selector ?? {}).every(([k, v]) => labels?.[k] === v);
const containerPort = (c, name) => c.ports?.find((p) => p.name === name)?.containerPort;
const probePort = (c, p) => (typeof p === "number" ? p : containerPort(c, p));

// The coordinator: Service ports, containerPorts and probes equal its --listen and --metrics.
const coordinators = containers.filter((x) => x.args[0] === "coordinator");
if (coordinators.length !== 1) fail(`${coordinators.length} coordinator containers, want 1`);
for (const { w, c, where, args } of coordinators) {
  if (w.kind !== "StatefulSet" || w.spec.replicas !== 1) fail(`${where}: want a StatefulSet of 1 replica`);
  const listen = portOf(flagValue(args, "--listen"));
  const metrics = portOf(flagValue(args, "--metrics"));
  if (containerPort(c, "grpc") !== listen) fail(`${where}: containerPort grpc ${containerPort(c, "grpc")} != --listen port ${listen}`);
  if (containerPort(c, "metrics") !== metrics) fail(`${where}: containerPort metrics ${containerPort(c, "metrics")} != --metrics port ${metrics}`);
  if (!flagValue(args, "--store")?.startsWith("/data/")) fail(`${where}: --store is not on the data volume`);
  const tls = args.includes("--tls-cert");
  for (const kind of ["readinessProbe", "livenessProbe"]) {
    const p = c[kind];
    const port = p?.grpc ? p.grpc.port : probePort(c, p?.tcpSocket?.port);
    if (port !== listen) fail(`${where}: ${kind} on port ${port}, not the gRPC (health service) port ${listen}`);
    if (!tls && !p?.grpc) fail(`${where}: ${kind} is not a grpc probe`);
    if (tls && p?.grpc) fail(`${where}: ${kind} is a grpc probe of a TLS port (the kubelet's is plaintext)`);
  }
  const services = byKind("Service").filter((s) => labelsMatch(s.spec.selector, w.spec.template.metadata.labels));
  if (services.length === 0) fail(`${where}: no Service selects the coordinator`);
  for (const s of services) {
    for (const [name, want] of [["grpc", listen], ["metrics", metrics]]) {
      const sp = s.spec.ports.find((p) => p.name === name);
      if (!sp) { fail(`${id(s)}: no port ${name}`); continue; }
      if (sp.port !== want) fail(`${id(s)}: port ${name} ${sp.port} != the container's ${want}`);
      const target = typeof sp.targetPort === "string" ? containerPort(c, sp.targetPort) : (sp.targetPort ?? sp.port);
      if (target !== want) fail(`${id(s)}: port ${name} targets ${sp.targetPort}, not ${want}`);
    }
  }
  for (const m of byKind("ServiceMonitor")) {
    for (const s of services.filter((s) => labelsMatch(m.spec.selector.matchLabels, s.metadata.labels))) {
      for (const e of m.spec.endpoints) if (!s.spec.ports.some((p) => p.name === e.port)) fail(`${id(m)}: port ${e.port} is not a port of ${id(s)}`);
    }
    if (!services.some((s) => labelsMatch(m.spec.selector.matchLabels, s.metadata.labels))) fail(`${id(m)}: selects no coordinator Service`);
  }
}

// Clients name the coordinator by its Service and gRPC port.
for (const { where, args } of containers.filter((x) => x.args.includes("--coordinator"))) {
  const [host, port] = flagValue(args, "--coordinator").split(":");
  const s = named("Service", host);
  const grpc = s?.spec.ports.find((p) => p.name === "grpc")?.port;
  if (grpc === undefined || grpc !== Number(port)) fail(`${where}: --coordinator ${host}:${port} is no Service's grpc port`);
}

// Workers: metrics port, PodMonitor, GPUs.
const workers = containers.filter((x) => x.args[0] === "worker");
if (workers.length === 0) fail("no worker container");
const gpu = overlay === "nvidia-gpu";
for (const { w, c, where, args } of workers) {
  const metrics = portOf(flagValue(args, "--metrics"));
  if (containerPort(c, "metrics") !== metrics) fail(`${where}: containerPort metrics ${containerPort(c, "metrics")} != --metrics port ${metrics}`);
  const pms = byKind("PodMonitor").filter((m) => labelsMatch(m.spec.selector.matchLabels, w.spec.template.metadata.labels));
  if (pms.length === 0) fail(`${where}: no PodMonitor selects the workers`);
  for (const m of pms) for (const e of m.spec.podMetricsEndpoints) if (containerPort(c, e.port) === undefined) fail(`${id(m)}: port ${e.port} is no worker container port`);
  if (flagValue(args, "--sysfs-root") && !(c.volumeMounts ?? []).some((m) => m.mountPath === flagValue(args, "--sysfs-root") && m.readOnly)) fail(`${where}: --sysfs-root is not a read-only mount`);
  if (!(c.volumeMounts ?? []).some((m) => m.mountPath === "/dev/shm")) fail(`${where}: no /dev/shm mount`);
  const limit = c.resources?.limits?.["nvidia.com/gpu"];
  const backend = flagValue(args, "--backend");
  if (gpu) {
    if (backend !== "cuda") fail(`${where}: --backend ${backend} on GPU workers`);
    if (!(Number(limit) > 0)) fail(`${where}: no nvidia.com/gpu limit`);
    if (Number(flagValue(args, "--devices")) !== Number(limit)) fail(`${where}: --devices ${flagValue(args, "--devices")} != nvidia.com/gpu ${limit}`);
    if (w.spec.template.spec.nodeSelector?.["nvidia.com/gpu.present"] !== "true") fail(`${where}: not limited to GPU nodes`);
  } else if (backend !== "cpu") {
    fail(`${where}: --backend ${backend} in a CPU overlay`);
  }
}
if (!gpu) {
  for (const { where, c } of containers) {
    if (JSON.stringify(c.resources ?? {}).includes("nvidia.com/gpu")) fail(`${where}: requests nvidia.com/gpu in a CPU overlay`);
  }
}

if (failures.length) {
  for (const f of failures) console.error(`FAIL ${f}`);
  process.exit(1);
}
console.log(`${overlay}: ${objects.length} objects valid, cross-checks pass`);
