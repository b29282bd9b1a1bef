import type { RowDataPacket } from 'mysql2';
import type { MoodleDb } from '../moodle/db';
import { SyncError } from '../errors';
import { findSetting, settingDefinitions, similarKeys, validateSetting, describeKind, type SettingDefinition } from './registry';

export const SETTINGS_PLUGIN = 'tool_sync';

export interface SettingValue {
  key: string;
  value: string;
  /** true when the value comes from the definition's default (no row in config_plugins). */
  isDefault: boolean;
  section: string;
  accepts: string;
  help: string;
}

/** Every known setting, as stored in config_plugins or its default. */
export async function readSettings(db: MoodleDb): Promise<SettingValue[]> {
  const [rows] = await db.pool.query<RowDataPacket[]>(
    `SELECT name, value FROM ${db.t('config_plugins')} WHERE plugin = ?`, [SETTINGS_PLUGIN]);
  const stored = new Map(rows.map((r) => [String(r.name), String(r.value)]));
  return settingDefinitions.map((d) => ({
    key: d.key,
    value: stored.get(d.key) ?? d.default,
    isDefault: !stored.has(d.key),
    section: d.section,
    accepts: describeKind(d.kind),
    help: d.help,
  }));
}

/** The settings as a plain key -> value map, for activities. */
export async function loadSettingsMap(db: MoodleDb): Promise<Record<string, string>> {
  return Object.fromEntries((await readSettings(db)).map((s) => [s.key, s.value]));
}

export function requireSetting(key: string): SettingDefinition {
  const def = findSetting(key);
  if (!def) {
    const near = similarKeys(key);
    const hint = near.length ? ` Did you mean: ${near.join(', ')}?` : '';
    throw new SyncError('config.unknown-key', `Unknown setting "${key}".${hint} Valid keys: ${settingDefinitions.map((d) => d.key).join(', ')}.`);
  }
  return def;
}

export async function getSetting(db: MoodleDb, key: string): Promise<SettingValue> {
  requireSetting(key);
  return (await readSettings(db)).find((s) => s.key === key)!;
}

/** Validates then stores a setting; returns the stored (normalised) value. */
export async function setSetting(db: MoodleDb, key: string, raw: string): Promise<string> {
  const def = requireSetting(key);
  const checked = validateSetting(def, raw);
  if (!checked.ok) throw new SyncError('config.bad-value', checked.reason);
  await db.pool.query(
    `INSERT INTO ${db.t('config_plugins')} (plugin, name, value) VALUES (?, ?, ?)
     ON DUPLICATE KEY UPDATE value = VALUES(value)`,
    [SETTINGS_PLUGIN, key, checked.value]);
  return checked.value;
}
