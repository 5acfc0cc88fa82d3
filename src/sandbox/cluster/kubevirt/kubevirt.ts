/**
 * KubeVirt as the operator sees it: virt-controller turns a VirtualMachine's `runStrategy` (or legacy
 * `running`) into a VirtualMachineInstance and reports the VM's printableStatus; virt-api serves the
 * `subresources.kubevirt.io/v1` aggregated API (VMI freeze/unfreeze/pause/unpause, VM start/stop/restart)
 * with the real answers when the guest cannot be frozen. No guest runs: the VM's disks are its PVCs, and
 * every freeze/thaw is recorded with a timestamp so tests can check the order of a backup's steps.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AggregatedApi, AggregatedResource } from '../../extensions.js';
import { ClusterController, keyOf, splitKey, type ReconcileResult } from '../controller.js';
import { RES, statusCode, type Kube } from '../kube.js';
import type {
  Condition,
  PersistentVolumeClaim,
  RunStrategy,
  VirtualMachine,
  VirtualMachineInstance,
} from '../objects.js';

/** VM or VMI annotation: `"false"` simulates a guest without a connected qemu-guest-agent. */
export const GUEST_AGENT_ANNOTATION = 'sandbox.csbs.dev/guest-agent';

/** Discovery of `subresources.kubevirt.io/v1` (the subset the sandbox serves). */
export const KUBEVIRT_SUBRESOURCES: AggregatedResource[] = [
  ...['freeze', 'unfreeze', 'pause', 'unpause'].map((s) => ({
    name: `virtualmachineinstances/${s}`,
    namespaced: true,
    kind: 'VirtualMachineInstance',
    verbs: ['update'],
  })),
  ...['start', 'stop', 'restart'].map((s) => ({
    name: `virtualmachines/${s}`,
    namespaced: true,
    kind: 'VirtualMachine',
    verbs: ['update'],
  })),
];

/** One freeze/thaw request and its outcome. */
export interface FreezeRecord {
  /** When the request was handled (RFC 3339 with milliseconds). */
  time: string;
  namespace: string;
  /** The VMI (= VM) name. */
  name: string;
  action: 'freeze' | 'unfreeze' | 'auto-unfreeze';
  ok: boolean;
  /** The error returned when refused. */
  message?: string;
  unfreezeTimeout?: string;
}

interface FreezeState {
  timer?: NodeJS.Timeout;
}

/** Parses a Go duration (`5m`, `1m30s`, `1.5h`, `300ms`) into milliseconds; undefined if invalid. */
export function parseGoDuration(s: string): number | undefined {
  if (s === '0') return 0;
  const units: Record<string, number> = {
    ns: 1e-6,
    us: 1e-3,
    µs: 1e-3,
    ms: 1,
    s: 1000,
    m: 60_000,
    h: 3_600_000,
  };
  const re = /(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|ms|s|m|h)/gy;
  let sign = 1;
  let rest = s;
  if (rest.startsWith('-') || rest.startsWith('+')) {
    sign = rest.startsWith('-') ? -1 : 1;
    rest = rest.slice(1);
  }
  if (!rest) return undefined;
  let total = 0;
  let pos = 0;
  re.lastIndex = 0;
  for (let m = re.exec(rest); m; m = re.exec(rest)) {
    total += Number(m[1]) * units[m[2]!]!;
    pos = re.lastIndex;
  }
  return pos === rest.length ? sign * total : undefined;
}

function runStrategyOf(vm: VirtualMachine): RunStrategy {
  if (vm.spec.runStrategy) return vm.spec.runStrategy;
  return vm.spec.running ? 'Always' : 'Halted';
}

function hasCond(conds: Condition[] | undefined, type: string): boolean {
  return (conds ?? []).some((c) => c.type === type && c.status === 'True');
}

/** A `Status` failure body as the apiserver (and virt-api) writes it. */
function sendStatus(
  res: ServerResponse,
  code: number,
  reason: string,
  message: string,
  details?: object,
): void {
  res.writeHead(code, { 'Content-Type': 'application/json' });
  res.end(
    JSON.stringify({
      kind: 'Status',
      apiVersion: 'v1',
      metadata: {},
      status: 'Failure',
      message,
      reason,
      ...(details ? { details } : {}),
      code,
    }),
  );
}

async function readBody(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of req) chunks.push(c as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

/** virt-controller + virt-handler + virt-api for the sandbox. */
export class KubeVirt extends ClusterController {
  protected readonly component = 'virt-controller';
  readonly vms;
  readonly vmis;
  private readonly freezes = new Map<string, FreezeState>();
  private readonly records: FreezeRecord[] = [];
  /** Manual run strategy: what start/stop last asked for, per VM uid. */
  private readonly manual = new Map<string, boolean>();

  constructor(kube: Kube, now?: () => Date) {
    super('kubevirt', kube, now);
    this.vms = this.informer<VirtualMachine>(RES.vms, {
      onUpsert: (vm) => this.enqueue(keyOf(vm)),
      onDelete: (vm) => this.enqueue(keyOf(vm)),
    });
    this.vmis = this.informer<VirtualMachineInstance>(RES.vmis, {
      onUpsert: (vmi) => {
        this.enqueue(`vmi:${keyOf(vmi)}`);
        this.enqueue(keyOf(vmi));
      },
      onDelete: (vmi) => {
        this.thawState(keyOf(vmi));
        this.enqueue(keyOf(vmi));
      },
    });
  }

  /** Every freeze/thaw handled so far, oldest first (optionally one namespace, one VMI). */
  freezeLog(namespace?: string, name?: string): FreezeRecord[] {
    return this.records
      .filter((r) => (!namespace || r.namespace === namespace) && (!name || r.name === name))
      .map((r) => ({ ...r }));
  }

  override async stop(): Promise<void> {
    for (const s of this.freezes.values()) if (s.timer) clearTimeout(s.timer);
    this.freezes.clear();
    await super.stop();
  }

  protected async reconcile(key: string): Promise<ReconcileResult | void> {
    if (key.startsWith('vmi:')) return this.reconcileVmi(key.slice(4));
    const { namespace, name } = splitKey(key);
    const vm = this.vms.get(namespace, name);
    const vmi = this.vmis.get(namespace, name);
    const ownedVmi =
      vmi && vm && vmi.metadata.ownerReferences?.some((r) => r.uid === vm.metadata.uid) ? vmi : undefined;
    if (!vm || vm.metadata.deletionTimestamp) {
      if (
        vmi &&
        !vmi.metadata.deletionTimestamp &&
        vmi.metadata.ownerReferences?.some((r) => r.kind === 'VirtualMachine' && r.controller)
      ) {
        await this.kube.delete(RES.vmis, namespace, name, 'Background');
      }
      return;
    }
    const strategy = runStrategyOf(vm);
    const phase = ownedVmi?.status?.phase;
    const finished = phase === 'Succeeded' || phase === 'Failed';
    let want: boolean;
    switch (strategy) {
      case 'Always':
        want = true;
        break;
      case 'RerunOnFailure':
        want = phase !== 'Succeeded';
        break;
      case 'Once':
        want = !finished;
        break;
      case 'Manual':
        want = this.manual.get(vm.metadata.uid ?? '') ?? (!!ownedVmi && !finished);
        break;
      default:
        want = false;
    }

    let waitingReason: string | undefined;
    if (ownedVmi && !ownedVmi.metadata.deletionTimestamp && (!want || (finished && want))) {
      // Stop, or clear a finished instance so a new one starts.
      await this.kube.delete(RES.vmis, namespace, name, 'Background');
    } else if (want && !vmi) {
      waitingReason = await this.volumesProblem(vm);
      if (!waitingReason) await this.createVmi(vm);
    }
    await this.writeVmStatus(vm, ownedVmi, want, waitingReason);
    return waitingReason ? { requeueAfterMs: 250 } : undefined;
  }

  /** Why the VM's PVCs do not let it start yet (printableStatus), or undefined. */
  private async volumesProblem(vm: VirtualMachine): Promise<string | undefined> {
    const volumes =
      (
        vm.spec.template?.spec as
          { volumes?: Array<Record<string, { claimName?: string; name?: string }>> } | undefined
      )?.volumes ?? [];
    for (const v of volumes) {
      const claim = v.persistentVolumeClaim?.claimName ?? v.dataVolume?.name;
      if (!claim) continue;
      const pvc = await this.kube.get<PersistentVolumeClaim>(RES.pvcs, vm.metadata.namespace ?? '', claim);
      if (!pvc) return 'ErrorPvcNotFound';
      if (pvc.status?.phase !== 'Bound') return 'WaitingForVolumeBinding';
    }
    return undefined;
  }

  private async createVmi(vm: VirtualMachine): Promise<void> {
    const tmpl = vm.spec.template ?? {};
    const annotations = { ...(tmpl.metadata?.annotations ?? {}) };
    const agent = vm.metadata.annotations?.[GUEST_AGENT_ANNOTATION];
    if (agent !== undefined && annotations[GUEST_AGENT_ANNOTATION] === undefined)
      annotations[GUEST_AGENT_ANNOTATION] = agent;
    try {
      await this.kube.create<VirtualMachineInstance>(RES.vmis, {
        metadata: {
          name: vm.metadata.name,
          namespace: vm.metadata.namespace,
          labels: { ...(tmpl.metadata?.labels ?? {}), 'kubevirt.io/vm': vm.metadata.name },
          annotations,
          ownerReferences: [
            {
              apiVersion: 'kubevirt.io/v1',
              kind: 'VirtualMachine',
              name: vm.metadata.name,
              uid: vm.metadata.uid ?? '',
              controller: true,
              blockOwnerDeletion: true,
            },
          ],
        },
        spec: tmpl.spec ?? {},
      });
      await this.event(
        vm,
        'Normal',
        'SuccessfulCreate',
        `Started the virtual machine by creating the new virtual machine instance ${vm.metadata.name}`,
      );
    } catch (e) {
      if (statusCode(e) !== 409) throw e;
    }
  }

  private async writeVmStatus(
    vm: VirtualMachine,
    vmi: VirtualMachineInstance | undefined,
    want: boolean,
    waiting: string | undefined,
  ): Promise<void> {
    const phase = vmi?.status?.phase;
    const paused = hasCond(vmi?.status?.conditions, 'Paused');
    let printable: string;
    if (!vmi) printable = want ? (waiting ?? 'Starting') : 'Stopped';
    else if (vmi.metadata.deletionTimestamp || !want) printable = 'Stopping';
    else if (phase === 'Running') printable = paused ? 'Paused' : 'Running';
    else if (phase === 'Failed') printable = 'CrashLoopBackOff';
    else if (phase === 'Succeeded') printable = 'Stopped';
    else printable = 'Starting';
    const ready =
      phase === 'Running' && !vmi?.metadata.deletionTimestamp && hasCond(vmi?.status?.conditions, 'Ready');
    const old = vm.status?.conditions ?? [];
    const cond = (type: string, ok: boolean, reason?: string, message?: string): Condition => {
      const prev = old.find((c) => c.type === type);
      const status = ok ? 'True' : 'False';
      return {
        type,
        status,
        lastProbeTime: null,
        lastTransitionTime:
          prev?.status === status && prev.lastTransitionTime
            ? prev.lastTransitionTime
            : this.now().toISOString(),
        ...(reason ? { reason } : {}),
        ...(message ? { message } : {}),
      };
    };
    const conditions = [
      ready
        ? cond('Ready', true)
        : cond('Ready', false, vmi ? 'PodNotReady' : 'VMINotExists', vmi ? undefined : 'VMI does not exist'),
    ];
    if (paused) conditions.push(cond('Paused', true, 'PausedByUser'));
    const agent = vmi?.status?.conditions?.find((c) => c.type === 'AgentConnected');
    if (agent) conditions.push(cond('AgentConnected', agent.status === 'True'));
    const status = {
      printableStatus: printable,
      ready,
      created: !!vmi,
      runStrategy: runStrategyOf(vm),
      conditions,
    };
    const cmp = (s: unknown): string =>
      JSON.stringify(s, (k, v: unknown) => (k === 'lastTransitionTime' ? undefined : v));
    const current = vm.status ?? {};
    if (cmp({ ...current, ...status }) === cmp(current)) return;
    await this.kube
      .patchStatus(RES.vms, vm.metadata.namespace ?? '', vm.metadata.name, status)
      .catch((e: unknown) => {
        if (statusCode(e) !== 404) throw e;
      });
  }

  private guestAgent(vmi: VirtualMachineInstance): boolean {
    const vm = this.vms.get(vmi.metadata.namespace, vmi.metadata.name);
    const value =
      vm?.metadata.annotations?.[GUEST_AGENT_ANNOTATION] ??
      vmi.metadata.annotations?.[GUEST_AGENT_ANNOTATION];
    return value !== 'false';
  }

  /** virt-handler: a new VMI "boots" at once; its conditions follow the guest agent annotation. */
  private async reconcileVmi(key: string): Promise<ReconcileResult | void> {
    const { namespace, name } = splitKey(key);
    const vmi = this.vmis.get(namespace, name);
    if (!vmi || vmi.metadata.deletionTimestamp) return;
    const now = this.now().toISOString();
    const st = vmi.status ?? {};
    if (!st.phase || st.phase === 'Pending' || st.phase === 'Scheduling' || st.phase === 'Scheduled') {
      const fault = this.takeFault();
      if (fault) {
        await this.patchVmiStatus(namespace, name, {
          phase: 'Failed',
          conditions: [
            {
              type: 'Ready',
              status: 'False',
              lastProbeTime: null,
              lastTransitionTime: now,
              reason: 'VMIFailed',
              message: fault,
            },
          ],
          phaseTransitionTimestamps: [{ phase: 'Failed', phaseTransitionTimestamp: now }],
        });
        return;
      }
      await this.patchVmiStatus(namespace, name, {
        phase: 'Running',
        nodeName: 'sandbox',
        conditions: this.vmiConditions(vmi, now),
        phaseTransitionTimestamps: [
          { phase: 'Pending', phaseTransitionTimestamp: now },
          { phase: 'Scheduled', phaseTransitionTimestamp: now },
          { phase: 'Running', phaseTransitionTimestamp: now },
        ],
        ...(this.guestAgent(vmi)
          ? { guestOSInfo: { id: 'sandbox', name: 'csbs sandbox guest', kernelRelease: '' } }
          : {}),
      });
      return;
    }
    if (st.phase === 'Running') {
      const agentNow = this.guestAgent(vmi);
      const agentCond = hasCond(st.conditions, 'AgentConnected');
      if (agentNow !== agentCond) {
        await this.patchVmiStatus(namespace, name, { conditions: this.vmiConditions(vmi, now) });
      }
    }
  }

  private vmiConditions(vmi: VirtualMachineInstance, now: string): Condition[] {
    const old = vmi.status?.conditions ?? [];
    const keep = (type: string, ok: boolean, reason?: string): Condition => {
      const prev = old.find((c) => c.type === type);
      const status = ok ? 'True' : 'False';
      return {
        type,
        status,
        lastProbeTime: null,
        lastTransitionTime:
          prev?.status === status && prev.lastTransitionTime ? prev.lastTransitionTime : now,
        ...(reason ? { reason } : {}),
      };
    };
    const conds = [keep('Ready', true), keep('LiveMigratable', false, 'DisksNotLiveMigratable')];
    if (this.guestAgent(vmi)) conds.push(keep('AgentConnected', true));
    const paused = old.find((c) => c.type === 'Paused' && c.status === 'True');
    if (paused) conds.push(paused);
    return conds;
  }

  /** VMIs have no status subresource (as upstream): virt-handler merge-patches the object itself. */
  private patchVmiStatus(namespace: string, name: string, status: object): Promise<unknown> {
    return this.kube.mergePatch(RES.vmis, namespace, name, { status });
  }

  private record(r: Omit<FreezeRecord, 'time'>): void {
    this.records.push({ time: this.now().toISOString(), ...r });
  }

  private thawState(key: string): void {
    const s = this.freezes.get(key);
    if (s?.timer) clearTimeout(s.timer);
    this.freezes.delete(key);
  }

  private async setFrozen(namespace: string, name: string, frozen: boolean): Promise<void> {
    await this.patchVmiStatus(namespace, name, { fsFreezeStatus: frozen ? 'frozen' : null }).catch(
      (e: unknown) => {
        if (statusCode(e) !== 404) throw e;
      },
    );
  }

  /** The `subresources.kubevirt.io/v1` API, for the sandbox API server to proxy to. */
  aggregatedApi(): AggregatedApi {
    return {
      group: 'subresources.kubevirt.io',
      version: 'v1',
      resources: KUBEVIRT_SUBRESOURCES,
      handle: (req, res, path) => this.handle(req, res, path),
    };
  }

  private async handle(req: IncomingMessage, res: ServerResponse, path: string): Promise<void> {
    const m = /^\/namespaces\/([^/]+)\/(virtualmachineinstances|virtualmachines)\/([^/]+)\/([a-z]+)$/.exec(
      path,
    );
    if (!m) return sendStatus(res, 404, 'NotFound', 'the server could not find the requested resource');
    const [, namespace, resource, name, action] = m as unknown as [string, string, string, string, string];
    if (req.method !== 'PUT')
      return sendStatus(
        res,
        405,
        'MethodNotAllowed',
        `${req.method} is not supported on ${resource}/${action}`,
      );
    const body = await readBody(req);
    try {
      if (resource === 'virtualmachineinstances') await this.vmiAction(res, namespace, name, action, body);
      else await this.vmAction(res, namespace, name, action);
    } catch (e) {
      sendStatus(res, 500, 'InternalError', `Internal error occurred: ${(e as Error).message}`);
    }
  }

  private async vmiAction(
    res: ServerResponse,
    namespace: string,
    name: string,
    action: string,
    body: string,
  ): Promise<void> {
    const vmi = await this.kube.get<VirtualMachineInstance>(RES.vmis, namespace, name);
    const notFound = (): void =>
      sendStatus(res, 404, 'NotFound', `virtualmachineinstance.kubevirt.io "${name}" not found`, {
        name,
        group: 'kubevirt.io',
        kind: 'virtualmachineinstance',
      });
    const conflict = (why: string): void =>
      sendStatus(
        res,
        409,
        'Conflict',
        `Operation cannot be fulfilled on virtualmachineinstance.kubevirt.io "${name}": ${why}`,
        { name, group: 'kubevirt.io', kind: 'virtualmachineinstance' },
      );
    const key = `${namespace}/${name}`;
    const paused = hasCond(vmi?.status?.conditions, 'Paused');
    switch (action) {
      case 'freeze': {
        let timeoutText: string | undefined;
        try {
          timeoutText = (JSON.parse(body || '{}') as { unfreezeTimeout?: string }).unfreezeTimeout;
        } catch (e) {
          return sendStatus(
            res,
            400,
            'BadRequest',
            `Can not unmarshal Request body to struct, error: ${(e as Error).message}`,
          );
        }
        const timeoutMs = timeoutText === undefined ? undefined : parseGoDuration(timeoutText);
        if (timeoutText === undefined || timeoutMs === undefined || timeoutMs < 0) {
          return sendStatus(
            res,
            400,
            'BadRequest',
            `Can not unmarshal Request body to struct, error: unfreezeTimeout must be a non-negative duration such as "5m", got ${JSON.stringify(timeoutText ?? null)}`,
          );
        }
        if (!vmi) return notFound();
        const refuse = (message: string, code: number, reason: string): void => {
          this.record({
            namespace,
            name,
            action: 'freeze',
            ok: false,
            message,
            unfreezeTimeout: timeoutText,
          });
          if (code === 409) conflict(message);
          else sendStatus(res, code, reason, message);
        };
        if (vmi.status?.phase !== 'Running') return refuse('VM is not running', 409, 'Conflict');
        if (!this.guestAgent(vmi)) {
          return refuse(
            `Internal error occurred: server error. command Freeze failed: "LibvirtError(Code=86, Domain=10, Message='Guest agent is not responding: QEMU guest agent is not connected')"`,
            500,
            'InternalError',
          );
        }
        if (paused) {
          return refuse(
            `Internal error occurred: server error. command Freeze failed: "LibvirtError(Code=86, Domain=10, Message='Guest agent is not responding: Guest agent not available for now')"`,
            500,
            'InternalError',
          );
        }
        const fault = this.takeFault();
        if (fault)
          return refuse(
            `Internal error occurred: server error. command Freeze failed: "${fault}"`,
            500,
            'InternalError',
          );
        const state = this.freezes.get(key) ?? {};
        if (state.timer) clearTimeout(state.timer);
        if (timeoutMs > 0) {
          state.timer = setTimeout(() => {
            if (this.freezes.get(key) !== state) return;
            this.freezes.delete(key);
            this.record({ namespace, name, action: 'auto-unfreeze', ok: true });
            void this.setFrozen(namespace, name, false).catch(() => undefined);
          }, timeoutMs);
          state.timer.unref();
        }
        this.freezes.set(key, state);
        this.record({ namespace, name, action: 'freeze', ok: true, unfreezeTimeout: timeoutText });
        await this.setFrozen(namespace, name, true);
        res.writeHead(200);
        return void res.end();
      }
      case 'unfreeze': {
        if (!vmi) return notFound();
        if (vmi.status?.phase !== 'Running') {
          this.record({ namespace, name, action: 'unfreeze', ok: false, message: 'VMI is not running' });
          return conflict('VMI is not running');
        }
        this.thawState(key);
        this.record({ namespace, name, action: 'unfreeze', ok: true });
        await this.setFrozen(namespace, name, false);
        res.writeHead(200);
        return void res.end();
      }
      case 'pause':
      case 'unpause': {
        if (!vmi) return notFound();
        if (vmi.status?.phase !== 'Running') return conflict('VMI is not running');
        if (action === 'pause' && paused) return conflict('VMI is already paused');
        if (action === 'unpause' && !paused) return conflict('VMI is not paused');
        const now = this.now().toISOString();
        const conditions = (vmi.status?.conditions ?? []).filter((c) => c.type !== 'Paused');
        if (action === 'pause')
          conditions.push({
            type: 'Paused',
            status: 'True',
            lastProbeTime: null,
            lastTransitionTime: now,
            reason: 'PausedByUser',
            message: 'VMI was paused by user',
          });
        await this.patchVmiStatus(namespace, name, { conditions });
        res.writeHead(200);
        return void res.end();
      }
      default:
        return sendStatus(res, 404, 'NotFound', 'the server could not find the requested resource');
    }
  }

  private async vmAction(
    res: ServerResponse,
    namespace: string,
    name: string,
    action: string,
  ): Promise<void> {
    const vm = await this.kube.get<VirtualMachine>(RES.vms, namespace, name);
    if (!vm)
      return sendStatus(res, 404, 'NotFound', `virtualmachine.kubevirt.io "${name}" not found`, {
        name,
        group: 'kubevirt.io',
        kind: 'virtualmachine',
      });
    const conflict = (why: string): void =>
      sendStatus(
        res,
        409,
        'Conflict',
        `Operation cannot be fulfilled on virtualmachine.kubevirt.io "${name}": ${why}`,
      );
    const strategy = runStrategyOf(vm);
    const vmi = await this.kube.get<VirtualMachineInstance>(RES.vmis, namespace, name);
    const setStrategy = (s: RunStrategy): Promise<unknown> =>
      this.kube.mergePatch(
        RES.vms,
        namespace,
        name,
        vm.spec.runStrategy ? { spec: { runStrategy: s } } : { spec: { running: s === 'Always' } },
      );
    if (action === 'start') {
      if (vmi && vmi.status?.phase === 'Running') return conflict('VM is already running');
      if (strategy === 'Manual') this.manual.set(vm.metadata.uid ?? '', true);
      else if (strategy === 'Halted') await setStrategy('Always');
    } else if (action === 'stop') {
      if (!vmi && strategy === 'Halted') return conflict('VM is not running');
      if (strategy === 'Manual') this.manual.set(vm.metadata.uid ?? '', false);
      else await setStrategy('Halted');
    } else if (action === 'restart') {
      if (!vmi) return conflict('VM is not running');
      await this.kube.delete(RES.vmis, namespace, name, 'Background');
    } else {
      return sendStatus(res, 404, 'NotFound', 'the server could not find the requested resource');
    }
    this.enqueue(`${namespace}/${name}`);
    res.writeHead(200);
    res.end();
  }
}
