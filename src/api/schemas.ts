/**
 * The openAPIV3Schema of every csbs.dev/v1alpha1 kind, written once here with the typed builder; the
 * CRDs in `crds/` are generated from it (`csbs crds --write crds/`) and `types.ts` is checked against
 * it at compile time. Descriptions are what `kubectl explain` shows: write them for users.
 */
import {
  BackupOrigin,
  BackupPhase,
  BackupType,
  Compression,
  Consistency,
  OneOffBackupPhase,
  RepositoryPhase,
  RestoreMode,
  RestorePhase,
  RunResult,
} from './conditions.js';
import { ServerKind } from './constants.js';
import {
  DEFAULT_BLOCK_SIZE,
  DEFAULT_COMPRESSION,
  DEFAULT_FILESYSTEM_PATH,
  DEFAULT_GC_SCHEDULE,
  DEFAULT_VERIFY_READ_DATA_PERCENT,
  DEFAULT_VERIFY_SCHEDULE,
  DEFAULT_KEY_SECRET_KEY,
  DEFAULT_MAX_PARALLEL_BACKUPS,
  DEFAULT_S3_REGION,
  DEFAULT_TIME_ZONE,
  MAX_BLOCK_SIZE,
  MAX_DESCRIPTION_LENGTH,
  MAX_RUNS_PER_DAY,
  MIN_BLOCK_SIZE,
} from './defaults.js';
import { MAX_BACKUP_NAME_LENGTH } from './names.js';
import type { JSONSchemaProps } from './openapi.js';
import {
  array,
  boolean,
  dateTime,
  integer,
  map,
  object,
  required,
  rules,
  string,
  stringEnum,
  type Node,
} from './schema-builder.js';

const values = <T extends Record<string, string>>(o: T) => Object.values(o) as Array<T[keyof T]>;

// ---------------------------------------------------------------- shared pieces

const DNS1123_SUBDOMAIN = '^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$';

/** A reference by name to an object in the same namespace. */
function localRef(description: string, what: string) {
  return object(description, {
    name: required(
      string(`Name of the ${what}, in this object's namespace.`, {
        maxLength: 253,
        pattern: DNS1123_SUBDOMAIN,
      }),
    ),
  });
}

/** Cron field alternatives: numbers in range and, for month and day of week, names. */
function cronField(valuesRe: string): string {
  const elem = `([*]|(${valuesRe})(-(${valuesRe}))?)(/[0-9]{1,2})?`;
  return `${elem}(,${elem})*`;
}
const both = (names: string[]) => [...names, ...names.map((n) => n.toLowerCase())].join('|');
const MONTHS = both(['JAN', 'FEB', 'MAR', 'APR', 'MAY', 'JUN', 'JUL', 'AUG', 'SEP', 'OCT', 'NOV', 'DEC']);
const DAYS = both(['SUN', 'MON', 'TUE', 'WED', 'THU', 'FRI', 'SAT']);
/** A five-field cron expression with every value in range (the full meaning is checked by semantic checks). */
export const CRON_PATTERN =
  '^' +
  [
    cronField('[0-5]?[0-9]'),
    cronField('[01]?[0-9]|2[0-3]'),
    cronField('0?[1-9]|[12][0-9]|3[01]'),
    cronField(`0?[1-9]|1[0-2]|${MONTHS}`),
    cronField(`[0-7]|${DAYS}`),
  ].join(' +') +
  '$';

const CRON_MESSAGE =
  "must be a five-field cron expression 'minute hour day-of-month month day-of-week' with values in range, e.g. '0 2 * * *' for 02:00 every day";

/** A cron expression string with its CEL structure check. */
function cron(description: string, extra: { default?: string } = {}) {
  return rules(string(description, { maxLength: 128, ...extra }), {
    rule: `self.matches('${CRON_PATTERN}')`,
    message: CRON_MESSAGE,
  });
}

const serverRef = (description: string) =>
  object(
    description,
    {
      kind: required(
        stringEnum(
          'VirtualMachine: a KubeVirt kubevirt.io/v1 VirtualMachine, whose disks are the persistentVolumeClaim and dataVolume volumes of spec.template.spec.volumes. PVCGroup: the PersistentVolumeClaims labelled csbs.dev/server=<name>.',
          values(ServerKind),
        ),
      ),
      name: required(
        string(
          'Name of the VirtualMachine, or the csbs.dev/server label value of the PVC group, in this namespace.',
          {
            minLength: 1,
            maxLength: 63,
            pattern: '^[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$',
          },
        ),
      ),
    },
    { 'x-kubernetes-map-type': 'atomic' },
  );

const serverList = (description: string, maxItems: number) =>
  array(description, serverRef('One server.'), {
    minItems: 1,
    maxItems,
    'x-kubernetes-list-type': 'map',
    'x-kubernetes-list-map-keys': ['kind', 'name'],
  });

const labelSelector = (description: string) =>
  object(
    description,
    {
      matchLabels: map(
        'Labels that must all be present with these values.',
        string('Label value.', { maxLength: 63 }),
      ),
      matchExpressions: array(
        'Requirements that must all hold.',
        object('One label requirement.', {
          key: required(string('Label key the requirement applies to.', { maxLength: 317 })),
          operator: required(
            stringEnum('How the key relates to the values.', ['In', 'NotIn', 'Exists', 'DoesNotExist']),
          ),
          values: array(
            'Values for In and NotIn; empty for Exists and DoesNotExist.',
            string('A label value.', { maxLength: 63 }),
            {
              maxItems: 64,
            },
          ),
        }),
        { maxItems: 16 },
      ),
    },
    { 'x-kubernetes-map-type': 'atomic' },
  );

const condition = object('A condition, as metav1.Condition.', {
  type: required(
    string('Condition type in PascalCase, e.g. Ready.', {
      maxLength: 316,
      pattern:
        '^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])$',
    }),
  ),
  status: required(stringEnum('True, False or Unknown.', ['True', 'False', 'Unknown'])),
  observedGeneration: integer('metadata.generation the condition was computed from.', { minimum: 0 }),
  lastTransitionTime: required(dateTime('When status last changed.')),
  reason: required(
    string('Machine-readable PascalCase reason for the last transition.', {
      minLength: 1,
      maxLength: 1024,
      pattern: '^[A-Za-z]([A-Za-z0-9_,:]*[A-Za-z0-9_])?$',
    }),
  ),
  message: required(
    string('Human-readable detail: what happened and what to do about it.', { maxLength: 32768 }),
  ),
});

const conditions = array('Current state as conditions, one per type.', condition, {
  maxItems: 32,
  'x-kubernetes-list-type': 'map',
  'x-kubernetes-list-map-keys': ['type'],
});

const observedGeneration = integer('metadata.generation this status was computed from.', { minimum: 0 });
const statusMessage = string(
  'Human-readable summary of the current state, or of the failure and how to fix it.',
  {
    maxLength: 32768,
  },
);

const progress = object('Progress of the data transfer while it runs.', {
  percent: integer('Percent done, 0..100.', { minimum: 0, maximum: 100, format: 'int32' }),
  bytesDone: integer('Bytes processed so far.', { minimum: 0 }),
  bytesTotal: integer('Bytes to process in total.', { minimum: 0 }),
});

const immutable = (what: string) => ({ rule: 'self == oldSelf', message: `${what} is immutable` });

// ---------------------------------------------------------------- BackupRepository

const blockSizes: number[] = [];
for (let s = MIN_BLOCK_SIZE; s <= MAX_BLOCK_SIZE; s *= 2) blockSizes.push(s);

export const backupRepositorySpec = object(
  'Where backup data lives and how it is written. All backups in a repository are deduplicated against each other.',
  {
    backend: required(
      rules(
        object('The storage holding the repository: exactly one of filesystem or s3.', {
          filesystem: object(
            'A directory in a PersistentVolumeClaim, mounted at /repository in the data mover Jobs.',
            {
              persistentVolumeClaim: required(
                object(
                  'The PVC holding the repository (ReadWriteMany if backups run on several nodes at once).',
                  {
                    claimName: required(
                      string('Name of the PVC, in this namespace.', {
                        maxLength: 253,
                        pattern: DNS1123_SUBDOMAIN,
                      }),
                    ),
                  },
                ),
              ),
              path: rules(
                string('Absolute directory inside the volume for the repository.', {
                  default: DEFAULT_FILESYSTEM_PATH,
                  maxLength: 1024,
                  pattern: '^/',
                }),
                { rule: "!self.matches('(^|/)[.][.](/|$)')", message: "path must not contain '..'" },
              ),
            },
          ),
          s3: object('An S3-compatible bucket.', {
            endpoint: required(
              string(
                'URL of the S3 endpoint, e.g. https://s3.eu-west-1.amazonaws.com or http://minio.minio:9000.',
                {
                  maxLength: 2048,
                  pattern: '^https?://[^/\\s]+(/.*)?$',
                },
              ),
            ),
            bucket: required(
              string('Bucket name.', {
                minLength: 3,
                maxLength: 63,
                pattern: '^[a-z0-9][a-z0-9.-]*[a-z0-9]$',
              }),
            ),
            prefix: rules(
              string('Key prefix inside the bucket (no leading slash); empty means the bucket root.', {
                maxLength: 512,
              }),
              { rule: "!self.startsWith('/')", message: 'prefix must not start with /' },
            ),
            region: string('Region of the bucket.', { default: DEFAULT_S3_REGION, maxLength: 64 }),
            forcePathStyle: boolean('Use path-style URLs (bucket in the path), as MinIO and Ceph need.', {
              default: false,
            }),
            credentialsSecretRef: required(
              localRef('Secret with the keys AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY.', 'Secret'),
            ),
          }),
        }),
        {
          rule: 'has(self.filesystem) != has(self.s3)',
          messageExpression:
            "has(self.filesystem) ? 'set only one of backend.filesystem or backend.s3, not both' : 'set one of backend.filesystem or backend.s3'",
        },
        {
          // A backend changed under its backups would start over empty and strand them.
          rule: 'self == oldSelf',
          message:
            'backend is immutable: the backups stored in this repository live there; create a new BackupRepository for other storage',
        },
      ),
    ),
    encryption: required(
      object(
        'Encryption of the repository. Data is encrypted and authenticated; without the key it cannot be read.',
        {
          keySecretRef: required(
            object(
              'The Secret key holding the repository key (any non-empty secret; keep a copy outside the cluster).',
              {
                name: required(
                  string('Secret name, in this namespace.', { maxLength: 253, pattern: DNS1123_SUBDOMAIN }),
                ),
                key: string('Key inside the Secret data.', {
                  default: DEFAULT_KEY_SECRET_KEY,
                  maxLength: 253,
                  pattern: '^[-._a-zA-Z0-9]+$',
                }),
              },
            ),
          ),
        },
      ),
    ),
    blockSize: rules(
      integer(
        `Size in bytes of the blocks disks are split into for deduplication: a power of two from ${MIN_BLOCK_SIZE} to ${MAX_BLOCK_SIZE}. Fixed when the repository is initialized.`,
        { default: DEFAULT_BLOCK_SIZE, enum: blockSizes },
      ),
      {
        ...immutable('blockSize'),
        message: 'blockSize is immutable: it is fixed when the repository is initialized',
      },
    ),
    compression: rules(
      stringEnum('Compression of stored blocks.', values(Compression), { default: DEFAULT_COMPRESSION }),
      {
        ...immutable('compression'),
        message: 'compression is immutable: it is fixed when the repository is initialized',
      },
    ),
    maintenance: object(
      'Schedules of repository maintenance (UTC).',
      {
        gcSchedule: cron('Cron expression (UTC) for garbage collection of blocks no backup references.', {
          default: DEFAULT_GC_SCHEDULE,
        }),
        verifySchedule: cron(
          'Cron expression (UTC) for an integrity check that reads a sample of the stored data (verifyReadDataPercent); damaged blocks are written again by the next backup that has them.',
          { default: DEFAULT_VERIFY_SCHEDULE },
        ),
        verifyReadDataPercent: integer('Percent of packs each scheduled check reads and re-hashes.', {
          minimum: 1,
          maximum: 100,
          default: DEFAULT_VERIFY_READ_DATA_PERCENT,
          format: 'int32',
        }),
      },
      { default: {} },
    ),
  },
);

export const backupRepositoryStatus = object('Observed state of the repository.', {
  phase: stringEnum(
    'Pending until the repository is initialized and reachable, then Ready; Failed with a message otherwise.',
    values(RepositoryPhase),
  ),
  observedGeneration,
  conditions,
  storedBytes: integer('Bytes the repository occupies in its storage.', { minimum: 0 }),
  stored: string('storedBytes for people, such as 1.01Gi.', { maxLength: 16 }),
  measuredStoredBytes: integer(
    'storedBytes as last measured (at lastCheckTime); storedBytes adds what backups uploaded since.',
    { minimum: 0 },
  ),
  backupCount: integer('Number of backups stored in the repository.', { minimum: 0 }),
  lastCheckTime: dateTime('Last successful check that the repository is reachable and intact.'),
  lastGCTime: dateTime('Last completed garbage collection.'),
  lastVerifyTime: dateTime('Last completed integrity check (maintenance.verifySchedule).'),
  damagedManifests: array(
    'Manifests (status.volumes[].manifestID of Backups) whose data the last check found damaged; the Backups using them show DataIntact=False.',
    string('A manifest id.', { maxLength: 128 }),
    { maxItems: 1000 },
  ),
  message: statusMessage,
});

// ---------------------------------------------------------------- BackupPolicy

export const backupPolicySpec = object(
  'When to back up the servers bound to this policy, and how long to keep the backups.',
  {
    enabled: boolean('A disabled policy starts no scheduled run; backups already running finish.', {
      default: true,
    }),
    repositoryRef: required(localRef('The BackupRepository the backups go to.', 'BackupRepository')),
    schedule: required(
      object('When runs start.', {
        cron: required(
          array(
            `1 to ${MAX_RUNS_PER_DAY} five-field cron expressions (minute hour day-of-month month day-of-week); together they may fire at most ${MAX_RUNS_PER_DAY} times a day.`,
            cron('A five-field cron expression, e.g. "0 2 * * *".'),
            { minItems: 1, maxItems: MAX_RUNS_PER_DAY, 'x-kubernetes-list-type': 'set' },
          ),
        ),
        timeZone: rules(
          string('IANA time zone the cron expressions are read in, e.g. Europe/Paris.', {
            default: DEFAULT_TIME_ZONE,
            maxLength: 64,
          }),
          {
            // CEL's timestamp functions fail on a zone they do not know, so this rejects unknown zones.
            rule: "timestamp('2000-01-01T00:00:00Z').getHours(self) >= 0",
            message: "timeZone must be an IANA time zone name such as 'UTC' or 'Europe/Paris'",
          },
        ),
        jitterSeconds: integer('Start each run a random 0..jitterSeconds later, to spread load.', {
          minimum: 0,
          maximum: 3600,
          format: 'int32',
        }),
      }),
    ),
    retention: rules(
      object(
        "Which of this policy's own scheduled (autobk_) backups to keep, per server; manual backups are never deleted. Set at most one of maxCount or maxAgeDays (neither keeps every backup); the long-term counts keep more, never fewer.",
        {
          maxCount: integer('Keep the newest N backups of each server.', {
            minimum: 1,
            maximum: 99999,
            format: 'int32',
          }),
          maxAgeDays: integer('Keep backups younger than N days.', {
            minimum: 1,
            maximum: 99999,
            format: 'int32',
          }),
          daily: integer('Also keep the latest backup of each of the last N days.', {
            minimum: 0,
            maximum: 100,
            format: 'int32',
          }),
          weekly: integer('Also keep the latest backup of each of the last N weeks.', {
            minimum: 0,
            maximum: 100,
            format: 'int32',
          }),
          monthly: integer('Also keep the latest backup of each of the last N months.', {
            minimum: 0,
            maximum: 100,
            format: 'int32',
          }),
          yearly: integer('Also keep the latest backup of each of the last N years.', {
            minimum: 0,
            maximum: 100,
            format: 'int32',
          }),
        },
      ),
      {
        rule: '!(has(self.maxCount) && has(self.maxAgeDays))',
        message: 'set at most one of maxCount or maxAgeDays',
      },
    ),
    fullBackupEvery: integer(
      'Make a full backup of a server every N runs; 0 makes only its first backup full.',
      {
        default: 0,
        minimum: 0,
        maximum: 10000,
        format: 'int32',
      },
    ),
    startingDeadlineSeconds: integer(
      'Skip a run that could not start within this many seconds of its scheduled time.',
      {
        minimum: 0,
        maximum: 86400,
      },
    ),
    maxParallelBackups: integer('Most backups of this policy running at once; the others wait.', {
      default: DEFAULT_MAX_PARALLEL_BACKUPS,
      minimum: 1,
      maximum: 100,
      format: 'int32',
    }),
  },
);

export const backupPolicyStatus = object('Observed state of the policy.', {
  observedGeneration,
  conditions,
  boundServers: serverList('Servers bound to this policy through ServerBindings.', 10000),
  lastRunTime: dateTime('When the last scheduled run started.'),
  nextRunTime: dateTime('When the next scheduled run is due.'),
  lastRunResult: stringEnum('Outcome of the last run.', values(RunResult)),
  runCount: integer('Runs started so far (fullBackupEvery counts them).', { minimum: 0 }),
});

// ---------------------------------------------------------------- ServerBinding

export const serverBindingSpec = rules(
  object(
    'Binds servers to a BackupPolicy. A server belongs to at most one policy: later bindings of it report a Conflict.',
    {
      policyRef: required(localRef('The BackupPolicy the servers get.', 'BackupPolicy')),
      servers: serverList('Servers listed by kind and name.', 1000),
      selector: labelSelector(
        'Selects VirtualMachines by their labels, and PVC groups whose PVCs (those labelled csbs.dev/server) match. Combined with servers as a union.',
      ),
    },
  ),
  {
    rule: '(has(self.servers) && size(self.servers) > 0) || has(self.selector)',
    message: 'set servers, selector or both',
  },
);

export const serverBindingStatus = object('Observed state of the binding.', {
  observedGeneration,
  conditions,
  servers: serverList('Servers resolved from servers and selector and bound to the policy.', 10000),
  conflicts: array(
    'Servers this binding selects that another binding bound first.',
    object('A server bound elsewhere.', {
      server: required(serverRef('The server.')),
      boundBy: required(string('The ServerBinding that bound it.', { maxLength: 253 })),
      policy: required(string("That binding's BackupPolicy.", { maxLength: 253 })),
    }),
    { maxItems: 10000 },
  ),
});

// ---------------------------------------------------------------- OneOffBackup

const description = string(`Free text kept with the backup, at most ${MAX_DESCRIPTION_LENGTH} characters.`, {
  maxLength: MAX_DESCRIPTION_LENGTH,
});

export const oneOffBackupSpec = rules(
  object(
    'Asks for one backup now of one or several servers (e.g. right before an upgrade). Immutable once created.',
    {
      server: serverRef('The server to back up. Set exactly one of server, servers or selector.'),
      servers: serverList('Several servers to back up; each gets its own Backup.', 100),
      selector: labelSelector(
        'Backs up every VirtualMachine and PVC group this selects (see ServerBinding.spec.selector).',
      ),
      backupName: rules(
        string(
          `Display name of the backup: manualbk_ then lowercase letters, digits, '_' or '-'. Generated (manualbk_ + 4 hex characters) when omitted. With several servers each backup gets a -0001, -0002... suffix.`,
          { maxLength: MAX_BACKUP_NAME_LENGTH - 5 },
        ),
        {
          rule: "self.startsWith('manualbk_')",
          message: "backupName must start with 'manualbk_' (scheduled backups are autobk_)",
        },
        {
          rule: "!self.startsWith('manualbk_') || self.matches('^manualbk_[a-z0-9]([a-z0-9_-]*[a-z0-9])?$')",
          message:
            "backupName must continue after 'manualbk_' with lowercase letters, digits, '_' or '-', and end with a letter or digit",
        },
      ),
      description,
      repositoryRef: localRef(
        'The BackupRepository to use. Default: the repository of the policy the server is bound to, else the only BackupRepository in the namespace.',
        'BackupRepository',
      ),
      forceFull: boolean('Make a full backup even if the server has an earlier one to build on.', {
        default: false,
      }),
    },
  ),
  {
    rule: '(has(self.server) ? 1 : 0) + (has(self.servers) ? 1 : 0) + (has(self.selector) ? 1 : 0) == 1',
    message: 'set exactly one of server, servers or selector',
  },
  { rule: 'self == oldSelf', message: 'spec is immutable: create a new OneOffBackup instead' },
);

export const oneOffBackupStatus = object('Observed state of the request.', {
  phase: stringEnum(
    'Pending, InProgress, then Completed, PartiallyFailed (some servers failed) or Failed.',
    values(OneOffBackupPhase),
  ),
  observedGeneration,
  conditions,
  backups: array(
    'The Backups this request created, one per server.',
    object('One Backup.', {
      server: required(serverRef('The server backed up.')),
      backupName: required(string('Display name (manualbk_...).', { maxLength: MAX_BACKUP_NAME_LENGTH })),
      name: required(string('Name of the Backup object.', { maxLength: 253 })),
      phase: stringEnum('Last seen phase of that Backup.', values(BackupPhase)),
    }),
    { maxItems: 10000 },
  ),
  startTime: dateTime('When the first Backup was created.'),
  completionTime: dateTime('When the last Backup finished.'),
  message: statusMessage,
});

// ---------------------------------------------------------------- Backup

export const backupSpec = rules(
  object(
    'One backup of one server. Created by OneOffBackups and BackupPolicies; immutable except its description.',
    {
      backupName: required(
        rules(
          string(
            "Display name, manualbk_xxxx or autobk_xxxx; the object's name is this with '_' replaced by '-'.",
            {
              minLength: 1,
              maxLength: MAX_BACKUP_NAME_LENGTH,
            },
          ),
          {
            rule: "self.matches('^(manualbk|autobk)_[a-z0-9]([a-z0-9_-]*[a-z0-9])?$')",
            message:
              "backupName must be manualbk_ or autobk_ followed by lowercase letters, digits, '_' or '-', ending with a letter or digit",
          },
          immutable('backupName'),
        ),
      ),
      server: required(rules(serverRef('The server backed up.'), immutable('server'))),
      origin: required(
        rules(
          stringEnum('OneOff (asked for by a user) or Policy (made by a schedule).', values(BackupOrigin)),
          immutable('origin'),
        ),
      ),
      policyRef: rules(
        localRef('The BackupPolicy whose schedule made it (origin Policy).', 'BackupPolicy'),
        immutable('policyRef'),
      ),
      oneOffBackupRef: rules(
        localRef('The OneOffBackup that asked for it, if any (origin OneOff).', 'OneOffBackup'),
        immutable('oneOffBackupRef'),
      ),
      repositoryRef: required(
        rules(
          localRef('The BackupRepository holding its data.', 'BackupRepository'),
          immutable('repositoryRef'),
        ),
      ),
      description,
      forceFull: rules(
        boolean('Full backup even if an earlier one could be its parent.', { default: false }),
        immutable('forceFull'),
      ),
    },
  ),
  {
    rule: "self.origin == 'Policy' ? has(self.policyRef) && !has(self.oneOffBackupRef) : !has(self.policyRef)",
    message: 'origin Policy needs policyRef (and no oneOffBackupRef); origin OneOff takes no policyRef',
  },
  {
    rule: "self.backupName.startsWith(self.origin == 'Policy' ? 'autobk_' : 'manualbk_')",
    message: 'backupName must start with autobk_ for origin Policy and manualbk_ for origin OneOff',
    fieldPath: '.backupName',
  },
  {
    rule: 'has(self.policyRef) == has(oldSelf.policyRef) && has(self.oneOffBackupRef) == has(oldSelf.oneOffBackupRef)',
    message: 'policyRef and oneOffBackupRef cannot be added or removed',
  },
);

const volumeBackup = object('Result for one volume of the server.', {
  name: required(
    string('Volume name in the VirtualMachine, or the PVC name for a PVC group.', { maxLength: 253 }),
  ),
  pvc: required(string('The source PersistentVolumeClaim.', { maxLength: 253 })),
  volumeMode: stringEnum('Block or Filesystem, as the source PVC.', ['Block', 'Filesystem']),
  storageClassName: string('StorageClass of the source PVC (used to recreate it on restore).', {
    maxLength: 253,
  }),
  accessModes: array(
    'Access modes of the source PVC.',
    string('An access mode, e.g. ReadWriteOnce.', { maxLength: 64 }),
    {
      maxItems: 4,
    },
  ),
  sizeBytes: integer('Size of the disk in bytes.', { minimum: 0 }),
  changedBytes: integer('Bytes that differ from the parent backup (all of them for a full backup).', {
    minimum: 0,
  }),
  uploadedBytes: integer('Bytes written to the repository after deduplication and compression.', {
    minimum: 0,
  }),
  manifestID: string("Repository manifest id of this volume's data.", { maxLength: 256 }),
  snapshotName: string('VolumeSnapshot taken of it (deleted once uploaded).', { maxLength: 253 }),
  message: string('What happened to this volume, when it failed.', { maxLength: 4096 }),
});

export const backupStatus = object('Observed state of the backup.', {
  phase: stringEnum(
    'Pending, Snapshotting, Uploading, then Available or Failed; Deleting while its data is removed, Restoring while a Restore reads it.',
    values(BackupPhase),
  ),
  observedGeneration,
  type: stringEnum(
    'Full, or Incremental against parentBackup. Every backup restores on its own either way.',
    values(BackupType),
  ),
  consistency: stringEnum(
    'ApplicationConsistent when the guest was frozen for the snapshots, CrashConsistent otherwise (see the Quiesced condition).',
    values(Consistency),
  ),
  parentBackup: string('Name of the Backup an Incremental was taken against.', { maxLength: 253 }),
  volumes: array('Per-volume results.', volumeBackup, {
    maxItems: 256,
    'x-kubernetes-list-type': 'map',
    'x-kubernetes-list-map-keys': ['name'],
  }),
  totals: object('Sums over the volumes.', {
    sizeBytes: integer('Total disk size in bytes.', { minimum: 0 }),
    changedBytes: integer('Total bytes changed since the parent.', { minimum: 0 }),
    uploadedBytes: integer('Total bytes written to the repository.', { minimum: 0 }),
    size: string('sizeBytes for people, such as 1.5Gi.', { maxLength: 16 }),
    uploaded: string('uploadedBytes for people, such as 27.2Mi.', { maxLength: 16 }),
  }),
  startTime: dateTime('When the backup started.'),
  completionTime: dateTime('When it became Available or Failed.'),
  expiresAt: dateTime("When the policy's retention will delete it, if it can tell."),
  progress,
  conditions,
  message: statusMessage,
});

// ---------------------------------------------------------------- Restore

export const restoreSpec = rules(
  object(
    "Writes a backup's data back to its server's disks (in place) or to new PVCs. Immutable once created.",
    {
      backupRef: required(localRef('The Backup to restore (it must be Available).', 'Backup')),
      target: rules(
        object(
          "Where to restore. Default: in place, into the backup's own server (a VirtualMachine is stopped first).",
          {
            mode: stringEnum(
              "InPlace: the backup's own server's PVCs. NewPVCs: new PVCs named <pvcNamePrefix><volume name>.",
              values(RestoreMode),
              {
                default: RestoreMode.InPlace,
              },
            ),
            pvcNamePrefix: string('Prefix of the new PVC names (mode NewPVCs).', {
              maxLength: 180,
              pattern: '^[a-z0-9]([-a-z0-9.]*)?$',
            }),
            storageClassName: string("StorageClass of new PVCs; default: the backed-up PVC's class.", {
              maxLength: 253,
            }),
          },
          { default: {} },
        ),
        {
          rule: "self.mode == 'NewPVCs' ? has(self.pvcNamePrefix) : !has(self.pvcNamePrefix) && !has(self.storageClassName)",
          message:
            'mode NewPVCs needs pvcNamePrefix; mode InPlace takes neither pvcNamePrefix nor storageClassName',
        },
      ),
      volumes: array(
        'Names of the volumes to restore (status.volumes[].name of the Backup); default: all of them.',
        string('A volume name.', { maxLength: 253 }),
        { maxItems: 256, 'x-kubernetes-list-type': 'set' },
      ),
      powerOnAfterRestore: boolean('Start the VirtualMachine again after an in-place restore.', {
        default: true,
      }),
    },
  ),
  { rule: 'self == oldSelf', message: 'spec is immutable: create a new Restore instead' },
);

export const restoreStatus = object('Observed state of the restore.', {
  phase: stringEnum(
    'Pending, StoppingServer, Restoring, StartingServer, then Completed or Failed.',
    values(RestorePhase),
  ),
  observedGeneration,
  progress,
  volumes: array(
    'Per-volume results.',
    object('One restored volume.', {
      name: required(string('Volume name.', { maxLength: 253 })),
      pvc: required(string('PVC written.', { maxLength: 253 })),
      restoredBytes: integer('Bytes written (only changed blocks when in place).', { minimum: 0 }),
      message: string('What happened to this volume, when it failed.', { maxLength: 4096 }),
    }),
    { maxItems: 256, 'x-kubernetes-list-type': 'map', 'x-kubernetes-list-map-keys': ['name'] },
  ),
  startTime: dateTime('When the restore started.'),
  completionTime: dateTime('When it completed or failed.'),
  conditions,
  message: statusMessage,
});

// ---------------------------------------------------------------- whole objects

/** The root schema of a kind: apiVersion, kind, metadata, spec (required) and status. */
function root(
  kindDescription: string,
  spec: Node<unknown, boolean>,
  status: Node<unknown, boolean>,
  extra: JSONSchemaProps = {},
): JSONSchemaProps {
  return {
    type: 'object',
    description: kindDescription,
    properties: {
      apiVersion: { type: 'string', description: 'Versioned schema of this object: csbs.dev/v1alpha1.' },
      kind: { type: 'string', description: 'Kind of this object.' },
      // Kubernetes allows nothing but the type here (not even a description): metadata is implicit.
      metadata: { type: 'object' },
      spec: spec.schema,
      status: status.schema,
    },
    required: ['spec'],
    ...extra,
  };
}

/** The openAPIV3Schema of each kind. */
export const SCHEMAS = {
  BackupRepository: root(
    'BackupRepository is where backup data lives: a PVC directory or an S3 bucket, encrypted, deduplicated and compressed.',
    backupRepositorySpec,
    backupRepositoryStatus,
  ),
  BackupPolicy: root(
    'BackupPolicy schedules periodic backups (autobk_...) of the servers bound to it and prunes them by retention.',
    backupPolicySpec,
    backupPolicyStatus,
  ),
  ServerBinding: root(
    'ServerBinding binds servers (VirtualMachines or PVC groups) to a BackupPolicy.',
    serverBindingSpec,
    serverBindingStatus,
  ),
  OneOffBackup: root(
    'OneOffBackup asks for a backup now (manualbk_...) of one or several servers.',
    oneOffBackupSpec,
    oneOffBackupStatus,
  ),
  Backup: root(
    "Backup is one backup of one server. Its name starts with spec.backupName with '_' replaced by '-' (the controller adds a suffix: display names may repeat, object names never do).",
    backupSpec,
    backupStatus,
    {
      'x-kubernetes-validations': [
        {
          // Display names may repeat; object names add a suffix that keeps them apart.
          rule: "!has(self.metadata.name) || self.metadata.name.startsWith(self.spec.backupName.replace('_', '-'))",
          messageExpression:
            "'metadata.name must start with ' + self.spec.backupName.replace('_', '-') + ' (spec.backupName with _ replaced by -), e.g. ' + self.spec.backupName.replace('_', '-') + '-1a2b3c4d'",
          // Kubernetes only lets a rule point into declared fields, and metadata has none: point at backupName.
          fieldPath: '.spec.backupName',
        },
      ],
    },
  ),
  Restore: root(
    "Restore writes a Backup's data back to its server or to new PVCs.",
    restoreSpec,
    restoreStatus,
  ),
} satisfies Record<string, JSONSchemaProps>;
