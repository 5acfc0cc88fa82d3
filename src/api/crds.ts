/**
 * The CustomResourceDefinition of each kind, built from `schemas.ts` and `constants.ts`. `crds/*.yaml`
 * is this, serialized (`csbs crds --write crds/`); a test fails when the two differ.
 */
import { CATEGORY, GROUP, KINDS, RESOURCES, VERSION, crdName, type Kind } from './constants.js';
import type { JSONSchemaProps } from './openapi.js';
import { SCHEMAS } from './schemas.js';

/** One `additionalPrinterColumns` entry. */
export interface PrinterColumn {
  name: string;
  type: 'string' | 'integer' | 'number' | 'boolean' | 'date';
  jsonPath: string;
  description: string;
  priority?: number;
  format?: string;
}

/** An apiextensions.k8s.io/v1 CustomResourceDefinition (the parts we set). */
export interface CustomResourceDefinition {
  apiVersion: 'apiextensions.k8s.io/v1';
  kind: 'CustomResourceDefinition';
  metadata: { name: string; labels: Record<string, string> };
  spec: {
    group: string;
    names: {
      kind: string;
      listKind: string;
      plural: string;
      singular: string;
      shortNames: string[];
      categories: string[];
    };
    scope: 'Namespaced';
    versions: Array<{
      name: string;
      served: boolean;
      storage: boolean;
      subresources: { status: Record<string, never> };
      additionalPrinterColumns: PrinterColumn[];
      schema: { openAPIV3Schema: JSONSchemaProps };
    }>;
  };
}

const age: PrinterColumn = {
  name: 'Age',
  type: 'date',
  jsonPath: '.metadata.creationTimestamp',
  description: 'Time since the object was created.',
};
const phase = (what: string): PrinterColumn => ({
  name: 'Phase',
  type: 'string',
  jsonPath: '.status.phase',
  description: `Phase of the ${what}.`,
});
const condition = (type: string, description: string): PrinterColumn => ({
  name: type,
  type: 'string',
  jsonPath: `.status.conditions[?(@.type=="${type}")].status`,
  description,
});

/** `kubectl get` columns per kind. */
export const PRINTER_COLUMNS: Record<Kind, PrinterColumn[]> = {
  BackupRepository: [
    phase('repository'),
    condition('Ready', 'Whether the repository is initialized and reachable.'),
    {
      name: 'Compression',
      type: 'string',
      jsonPath: '.spec.compression',
      description: 'Compression of stored blocks.',
    },
    {
      name: 'Block Size',
      type: 'integer',
      jsonPath: '.spec.blockSize',
      description: 'Deduplication block size in bytes.',
    },
    { name: 'Stored', type: 'string', jsonPath: '.status.stored', description: 'Bytes stored.' },
    age,
  ],
  BackupPolicy: [
    {
      name: 'Enabled',
      type: 'boolean',
      jsonPath: '.spec.enabled',
      description: 'Whether scheduled runs start.',
    },
    { name: 'Schedule', type: 'string', jsonPath: '.spec.schedule.cron', description: 'Cron expressions.' },
    {
      name: 'Time Zone',
      type: 'string',
      jsonPath: '.spec.schedule.timeZone',
      description: 'Time zone of the schedule.',
    },
    {
      name: 'Repository',
      type: 'string',
      jsonPath: '.spec.repositoryRef.name',
      description: 'Target repository.',
      priority: 1,
    },
    {
      name: 'Last Run',
      type: 'date',
      jsonPath: '.status.lastRunTime',
      description: 'When the last run started.',
    },
    {
      name: 'Result',
      type: 'string',
      jsonPath: '.status.lastRunResult',
      description: 'Outcome of the last run.',
    },
    {
      name: 'Next Run',
      type: 'date',
      jsonPath: '.status.nextRunTime',
      description: 'When the next run is due.',
      priority: 1,
    },
    age,
  ],
  ServerBinding: [
    {
      name: 'Policy',
      type: 'string',
      jsonPath: '.spec.policyRef.name',
      description: 'The bound BackupPolicy.',
    },
    condition('Ready', 'Whether the servers are bound.'),
    condition('Conflict', 'Whether some servers are bound to another policy already.'),
    age,
  ],
  OneOffBackup: [
    {
      name: 'Backup Name',
      type: 'string',
      jsonPath: '.spec.backupName',
      description: 'Display name of the backup(s).',
    },
    { name: 'Server', type: 'string', jsonPath: '.spec.server.name', description: 'The server (when one).' },
    phase('request'),
    age,
  ],
  Backup: [
    {
      name: 'Backup Name',
      type: 'string',
      jsonPath: '.spec.backupName',
      description: 'Display name (manualbk_/autobk_).',
    },
    { name: 'Server', type: 'string', jsonPath: '.spec.server.name', description: 'The server backed up.' },
    { name: 'Type', type: 'string', jsonPath: '.status.type', description: 'Full or Incremental.' },
    phase('backup'),
    { name: 'Size', type: 'string', jsonPath: '.status.totals.size', description: 'Total disk size.' },
    {
      name: 'Uploaded',
      type: 'string',
      jsonPath: '.status.totals.uploaded',
      description: 'Bytes this backup added to the repository (compressed).',
    },
    {
      name: 'Origin',
      type: 'string',
      jsonPath: '.spec.origin',
      description: 'OneOff or Policy.',
      priority: 1,
    },
    {
      name: 'Repository',
      type: 'string',
      jsonPath: '.spec.repositoryRef.name',
      description: 'Repository holding it.',
      priority: 1,
    },
    age,
  ],
  Restore: [
    { name: 'Backup', type: 'string', jsonPath: '.spec.backupRef.name', description: 'The Backup restored.' },
    { name: 'Mode', type: 'string', jsonPath: '.spec.target.mode', description: 'InPlace or NewPVCs.' },
    phase('restore'),
    { name: 'Progress', type: 'integer', jsonPath: '.status.progress.percent', description: 'Percent done.' },
    age,
  ],
};

/** The CRD of `kind`. */
export function customResourceDefinition(kind: Kind): CustomResourceDefinition {
  const names = RESOURCES[kind];
  return {
    apiVersion: 'apiextensions.k8s.io/v1',
    kind: 'CustomResourceDefinition',
    metadata: {
      name: crdName(kind),
      labels: { 'app.kubernetes.io/name': 'csbs-operator', 'app.kubernetes.io/part-of': 'csbs-operator' },
    },
    spec: {
      group: GROUP,
      names: {
        kind,
        listKind: names.listKind,
        plural: names.plural,
        singular: names.singular,
        shortNames: names.shortNames,
        categories: [CATEGORY],
      },
      scope: 'Namespaced',
      versions: [
        {
          name: VERSION,
          served: true,
          storage: true,
          subresources: { status: {} },
          additionalPrinterColumns: PRINTER_COLUMNS[kind],
          schema: { openAPIV3Schema: SCHEMAS[kind] },
        },
      ],
    },
  };
}

/** All six CRDs, in {@link KINDS} order. */
export function customResourceDefinitions(): CustomResourceDefinition[] {
  return KINDS.map(customResourceDefinition);
}

/** The file name of a kind's CRD in `crds/`: `csbs.dev_backuppolicies.yaml`, as controller-gen names them. */
export function crdFileName(kind: Kind): string {
  return `${GROUP}_${RESOURCES[kind].plural}.yaml`;
}
