/**
 * The reconcilers `csbs controller` runs, in registration order. Each kind's folder exports its
 * Reconciler; add it here.
 */
import type { Reconciler } from '../runtime/reconciler.js';
import { version } from '../version.js';
import { BackupReconciler } from './backup/reconciler.js';
import { BackupRepositoryReconciler } from './backuprepository/reconciler.js';
import { OneOffBackupReconciler } from './oneoffbackup/reconciler.js';
import { RestoreReconciler } from './restore/reconciler.js';
import { type ControllerSettings, defaultSettings } from './shared/settings.js';

export type { ControllerSettings } from './shared/settings.js';
export { defaultSettings } from './shared/settings.js';

/** The operator's controllers with the given settings (tests shorten polls and Job limits). */
export function createReconcilers(settings: ControllerSettings = defaultSettings(version)): Reconciler[] {
  return [
    new BackupRepositoryReconciler(settings),
    new OneOffBackupReconciler(settings),
    new BackupReconciler(settings),
    new RestoreReconciler(settings),
  ];
}

/** Every controller of the operator, with production settings (image from the package version). */
export const reconcilers: Reconciler[] = createReconcilers();
