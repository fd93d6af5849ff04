import { describe, expect, it } from 'vitest';
import { MalformedRecordError } from '../../lib/core/errors.js';
import type { NewTask } from '../../lib/core/task-record.js';
import { decodeRecord, encodeNewRecord, newStoredRecord } from '../../lib/storages/record-codec.js';

const base: NewTask = { uuid: 'u-1', taskName: 'send', priority: 0, argsJson: '[1]', createdAt: 1_764_000_000_000, delayMs: 0 };

describe('the Redis form of a new record', () => {
  it.each([
    ['a plain task', base],
    ['a prioritised task', { ...base, priority: 7 }],
    ['a negative priority', { ...base, priority: -3 }],
    ['a delayed task', { ...base, delayMs: 1500 }],
    ['a name and arguments that need escaping', { ...base, taskName: 'say "hi" \\ ünï ✓', argsJson: '["a\\"b","line\\nnext",{"k":"\\u0000"}]' }],
  ])('reads back as the record the memory backend keeps: %s', (_case, task) => {
    const redisForm = encodeNewRecord(task);
    expect(decodeRecord(task.uuid, redisForm)).toEqual(decodeRecord(task.uuid, JSON.stringify(newStoredRecord(task))));
    expect(decodeRecord(task.uuid, redisForm).args).toEqual(JSON.parse(task.argsJson));
  });

  it('starts with the status and leaves out the defaults (priority 0, updated, attempt)', () => {
    expect(encodeNewRecord(base).startsWith('{"s":"new",')).toBe(true);
    expect(Object.keys(JSON.parse(encodeNewRecord(base)) as object)).toEqual(['s', 'n', 'a', 'c']);
    expect(Object.keys(JSON.parse(encodeNewRecord({ ...base, priority: 2, delayMs: 10 })) as object)).toEqual(['s', 'n', 'a', 'c', 'd', 'p']);
  });
});

describe('reading a stored record', () => {
  it.each(['"abc"', '5', 'null', 'true', '{"x":1}'])('refuses arguments that are JSON but not a list (%s) as malformed', (args) => {
    const raw = JSON.stringify({ s: 'new', n: 'send', a: args, c: 1 });
    expect(() => decodeRecord('u-2', raw)).toThrow(new MalformedRecordError('u-2', `its arguments are not a JSON list: ${args}`));
  });
});
