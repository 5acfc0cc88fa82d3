/**
 * Checks a schema cannot express, in the same FieldError form: that each cron expression means
 * something (Feb 31 never fires), that a policy's expressions together fire at most 24 times a day, and
 * that a time zone is a real IANA zone. `csbs validate` runs them after admission; controllers use them
 * to set a clear condition (reason InvalidSchedule / InvalidTimeZone) on objects a server let through.
 */
import { CronExpressionParser } from 'cron-parser';
import { MAX_RUNS_PER_DAY, type BackupPolicySpec, type BackupRepositorySpec } from '../api/index.js';
import { fieldError, type FieldError } from './errors.js';
import { isObject } from './props.js';

/** Why `expr` is not a usable five-field cron expression, or undefined when it is. */
export function cronProblem(expr: string): string | undefined {
  const fields = expr.trim().split(/\s+/);
  if (fields.length !== 5 || expr.trim().startsWith('@')) {
    return "must have exactly five fields 'minute hour day-of-month month day-of-week', e.g. '0 2 * * *'";
  }
  try {
    CronExpressionParser.parse(expr, { tz: 'UTC' });
    return undefined;
  } catch (e) {
    return `is not a valid cron expression: ${e instanceof Error ? e.message : String(e)}`;
  }
}

/** The (hour, minute) times of day at which any of the expressions can fire. */
export function timesOfDay(exprs: string[]): Set<string> {
  const times = new Set<string>();
  for (const expr of exprs) {
    if (cronProblem(expr)) continue;
    const f = CronExpressionParser.parse(expr, { tz: 'UTC' }).fields;
    for (const h of f.hour.values) for (const m of f.minute.values) times.add(`${h}:${m}`);
  }
  return times;
}

/** Whether `tz` is an IANA time zone this runtime knows. */
export function isTimeZone(tz: string): boolean {
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: tz });
    return true;
  } catch {
    return false;
  }
}

/** Semantic problems of a BackupPolicy spec (paths start at `spec`). */
export function checkBackupPolicySpec(spec: Partial<BackupPolicySpec> | undefined): FieldError[] {
  const errs: FieldError[] = [];
  const schedule = spec?.schedule;
  if (!schedule) return errs;
  const cron = Array.isArray(schedule.cron) ? schedule.cron : [];
  cron.forEach((expr, i) => {
    if (typeof expr !== 'string') return;
    const p = cronProblem(expr);
    if (p) errs.push(fieldError.invalid(`spec.schedule.cron[${i}]`, expr, p));
  });
  const runs = timesOfDay(cron.filter((c): c is string => typeof c === 'string')).size;
  if (runs > MAX_RUNS_PER_DAY) {
    errs.push(
      fieldError.invalid(
        'spec.schedule.cron',
        cron,
        `fires at ${runs} times of day; at most ${MAX_RUNS_PER_DAY} runs a day are allowed (e.g. '0 * * * *' is hourly)`,
      ),
    );
  }
  const tz = schedule.timeZone;
  if (typeof tz === 'string' && !isTimeZone(tz)) {
    errs.push(
      fieldError.invalid(
        'spec.schedule.timeZone',
        tz,
        "unknown time zone: use an IANA name such as 'UTC' or 'Europe/Paris'",
      ),
    );
  }
  return errs;
}

/** Semantic problems of a BackupRepository spec. */
export function checkBackupRepositorySpec(spec: Partial<BackupRepositorySpec> | undefined): FieldError[] {
  const errs: FieldError[] = [];
  const m = spec?.maintenance;
  for (const key of ['gcSchedule', 'verifySchedule'] as const) {
    const expr = m?.[key];
    if (typeof expr !== 'string') continue;
    const p = cronProblem(expr);
    if (p) errs.push(fieldError.invalid(`spec.maintenance.${key}`, expr, p));
  }
  return errs;
}

/** Semantic problems of any csbs object, by its kind (none for kinds without such checks). */
export function semanticChecks(obj: unknown): FieldError[] {
  if (!isObject(obj)) return [];
  const spec = isObject(obj.spec) ? obj.spec : undefined;
  switch (obj.kind) {
    case 'BackupPolicy':
      return checkBackupPolicySpec(spec as Partial<BackupPolicySpec> | undefined);
    case 'BackupRepository':
      return checkBackupRepositorySpec(spec as Partial<BackupRepositorySpec> | undefined);
    default:
      return [];
  }
}
