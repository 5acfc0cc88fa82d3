/**
 * Labels, annotations and finalizers the operator writes (docs/design.md, "Contract: labels"). Children
 * are found again by these labels after a controller restart, so their names never change lightly.
 */

/** On PVCs: groups them as one `PVCGroup` server named by the value. */
export const LABEL_SERVER = 'csbs.dev/server';
/** On every child of a Backup (Jobs, VolumeSnapshots, temporary PVCs): the Backup's object name. */
export const LABEL_BACKUP = 'csbs.dev/backup';
/** On every child of a Restore: the Restore's object name. */
export const LABEL_RESTORE = 'csbs.dev/restore';
/** On Backup: the server's kind (`VirtualMachine` | `PVCGroup`). */
export const LABEL_SERVER_KIND = 'csbs.dev/server-kind';
/** On Backup: the server's name. */
export const LABEL_SERVER_NAME = 'csbs.dev/server-name';
/** On Backup: the BackupRepository name the data went to. */
export const LABEL_REPOSITORY = 'csbs.dev/repository';
/** On Backup: `OneOff` or `Policy` (the spec.origin). */
export const LABEL_ORIGIN = 'csbs.dev/origin';
/** On Backup made by a schedule: the BackupPolicy name, so retention lists only its own backups. */
export const LABEL_POLICY = 'csbs.dev/policy';
/** On Backup made by a OneOffBackup: its name (no owner reference: backups outlive their request). */
export const LABEL_ONE_OFF_BACKUP = 'csbs.dev/oneoffbackup';
/** On children of repository maintenance Jobs (init, gc, verify): the BackupRepository name. */
export const LABEL_REPOSITORY_JOB = 'csbs.dev/repository-job';

/** Standard Kubernetes label marking objects we create. */
export const LABEL_MANAGED_BY = 'app.kubernetes.io/managed-by';
/** Value of `app.kubernetes.io/managed-by` on everything the operator creates. */
export const MANAGED_BY = 'csbs-operator';

/**
 * On a VirtualMachine being restored in place: its `spec.runStrategy` before we halted it, so the
 * strategy is put back after the restore even if the controller restarted in between.
 */
export const ANNOTATION_ORIGINAL_RUN_STRATEGY = 'csbs.dev/original-run-strategy';
/** On a VirtualMachine or Backup: name of the Restore currently using it (one operation per server). */
export const ANNOTATION_RESTORE_IN_PROGRESS = 'csbs.dev/restore-in-progress';

/** On a PVC a NewPVCs restore created: the Restore's uid. A restore writes only PVCs carrying its own. */
export const ANNOTATION_CREATED_BY_RESTORE = 'csbs.dev/created-by-restore';
/** On a VirtualMachine halted for a restore: its metadata.generation once halted (a spec change shows). */
export const ANNOTATION_HALTED_GENERATION = 'csbs.dev/halted-generation';

/** On Backup: its manifests leave the repository (a mover delete Job) before the object goes. */
export const FINALIZER_DELETE_BACKUP_DATA = 'csbs.dev/delete-backup-data';
/** On BackupRepository: kept while Backups still reference it, so data is never orphaned silently. */
export const FINALIZER_REPOSITORY_IN_USE = 'csbs.dev/repository-in-use';
/** On Restore: the VM is started again (or left halted with a reason) before the object goes. */
export const FINALIZER_RESTORE_CLEANUP = 'csbs.dev/restore-cleanup';
