import { Injectable } from '@nestjs/common';
import { Expose, Transform, Type } from 'class-transformer';
import { IsDate, IsEmail, IsInt, Min, ValidateNested } from 'class-validator';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { QTasksClient, Task, TaskCtx, TaskValidationError, type QueueTasks, type TaskContext } from '../../lib/index.js';
import { startNestApp } from '../helpers/nest-app.js';
import { uniqueAppName } from '../helpers/names.js';
import { plainApps } from '../helpers/plain-app.js';

class Address {
  @IsInt()
  zip!: number;
}

class CreateUserDto {
  @IsEmail()
  email!: string;

  @IsInt()
  @Min(18)
  age!: number;

  @ValidateNested()
  @Type(() => Address)
  address!: Address;
}

/** A value-changing transform: applied more than once, the task would see 100 times too much. */
class PriceDto {
  @Transform(({ value }) => Math.round((value as number) * 100))
  @IsInt()
  cents!: number;
}

/** Another name on the wire than in the class. */
class UserRefDto {
  @Expose({ name: 'user_id' })
  @IsInt()
  userId!: number;
}

/** A class with no class-validator decorator at all. */
class NoteDto {
  text!: string;
}

/** A Date field without `@Type`: JSON carries it as an ISO string, and so does the DTO the worker builds. */
class MeetingDto {
  @IsDate()
  at!: Date;
}

/** The same with `@Type(() => Date)`: class-transformer turns the string back into a Date. */
class TypedMeetingDto {
  @Type(() => Date)
  @IsDate()
  at!: Date;
}

function describeUser(user: CreateUserDto): string {
  return `${user.email} (${user.age}) at ${user.address.zip}`;
}

@Injectable()
class UsersTasks {
  @Task()
  createUser(user: CreateUserDto, note: string) {
    return { isDto: user instanceof CreateUserDto, isAddress: user.address instanceof Address, text: describeUser(user), note };
  }

  @Task()
  charge(price: PriceDto) {
    return price.cents;
  }

  @Task()
  notify(ref: UserRefDto) {
    return ref.userId;
  }

  @Task()
  annotate(note: NoteDto) {
    return { isDto: note instanceof NoteDto, text: note.text };
  }

  @Task()
  greet(id: number, user?: CreateUserDto) {
    return user ? `${id}: ${describeUser(user)}` : `${id}: nobody`;
  }

  @Task()
  remind(at: Date, note: string) {
    return { isDate: at instanceof Date, at: at.toISOString(), note };
  }

  @Task()
  schedule(user: CreateUserDto, at?: Date) {
    return { isDto: user instanceof CreateUserDto, at: at === undefined || at === null ? null : at.toISOString() };
  }

  @Task()
  meet(meeting: MeetingDto) {
    return meeting.at instanceof Date;
  }

  @Task()
  meetTyped(meeting: TypedMeetingDto) {
    return meeting.at.toISOString();
  }

  @Task()
  withContext(@TaskCtx() ctx: TaskContext, user: CreateUserDto) {
    return `${ctx.taskName}: ${describeUser(user)}`;
  }
}

const valid = { email: 'ann@example.com', age: 30, address: { zip: 12345 } };

describe('validation (class-validator) of DTO-typed parameters', () => {
  const name = uniqueAppName('validation');
  let app: Awaited<ReturnType<typeof startNestApp>>;
  let client: QTasksClient;
  let redis: Redis;

  beforeAll(async () => {
    app = await startNestApp({ name, url: inject('redisUrl') }, [UsersTasks]);
    client = app.get(QTasksClient);
    redis = new Redis(inject('redisUrl'));
  });
  afterAll(async () => {
    await app?.close();
    redis?.disconnect();
  });

  it('the task receives DTO instances built from the emitted parameter types', async () => {
    const result = await client.task(UsersTasks, 'createUser').run(valid, 'hi');
    expect(result).toEqual({ isDto: true, isAddress: true, text: 'ann@example.com (30) at 12345', note: 'hi' });
  });

  it('invalid arguments are refused at enqueue with a clear error, and nothing is enqueued', async () => {
    const recordsBefore = (await redis.keys(`qtasks:{${name}}:t:*`)).length;
    const error = await client.add('createUser', [{ email: 'nope', age: 12, address: { zip: 'x' } }, 'hi']).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(TaskValidationError);
    expect((error as Error).message).toBe(
      'Arguments of task "createUser" are invalid: argument 1 (CreateUserDto).email: email must be an email; ' +
        'argument 1 (CreateUserDto).age: age must not be less than 18; ' +
        'argument 1 (CreateUserDto).address.zip: zip must be an integer number.',
    );
    await expect(client.add('createUser', ['not an object', 'hi'])).rejects.toThrow(/argument 1 \(CreateUserDto\) must be an object, got string/);
    expect(await redis.keys(`qtasks:{${name}}:t:*`)).toHaveLength(recordsBefore);
    expect(await redis.zcard(`qtasks:{${name}}:qp`)).toBe(0);
  });

  it('a DTO is validated at enqueue as the worker will get it, after JSON: what would fail when run is refused', async () => {
    const recordsBefore = (await redis.keys(`qtasks:{${name}}:t:*`)).length;
    const at = new Date('2026-12-01T09:30:00.000Z');
    // The caller holds a Date; the worker would get its ISO string, which @IsDate() refuses.
    for (const meeting of [{ at }, Object.assign(new MeetingDto(), { at })]) {
      const error = await client.add('meet', [meeting]).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(TaskValidationError);
      expect((error as Error).message).toBe('Arguments of task "meet" are invalid: argument 1 (MeetingDto).at: at must be a Date instance.');
    }
    expect(await redis.keys(`qtasks:{${name}}:t:*`)).toHaveLength(recordsBefore);
    // With @Type(() => Date) the worker's DTO gets a Date back: accepted, and it runs.
    expect(await client.task(UsersTasks, 'meetTyped').run({ at })).toBe(at.toISOString());
  });

  it('transforms run once, before the task runs; the record keeps the arguments as given', async () => {
    const record = await client.run('charge', [{ cents: 12.34 }], { timeout: 15_000 });
    expect(record).toMatchObject({ status: 'success', returning: 1234, args: [{ cents: 12.34 }] });
    expect(await client.task(UsersTasks, 'notify').run({ user_id: 7 } as unknown as UserRefDto)).toBe(7);
  });

  it('a class without class-validator decorators is accepted, as by the ValidationPipe of Nest', async () => {
    expect(await client.task(UsersTasks, 'annotate').run({ text: 'hello' })).toEqual({ isDto: true, text: 'hello' });
  });

  it('an optional DTO given as null or undefined is not validated', async () => {
    expect(await client.task(UsersTasks, 'greet').run(1, undefined)).toBe('1: nobody');
    expect((await client.run('greet', [2, null], { timeout: 15_000 })).returning).toBe('2: nobody');
    expect(await client.task(UsersTasks, 'greet').run(3, valid)).toBe('3: ann@example.com (30) at 12345');
    await expect(client.task(UsersTasks, 'greet').add(4, { ...valid, age: 1 })).rejects.toThrow(TaskValidationError);
  });

  it('a Date parameter gets a Date, not the ISO string JSON made of it; a value that is no date is refused at enqueue', async () => {
    const at = new Date('2026-12-01T09:30:00.000Z');
    expect(await client.task(UsersTasks, 'remind').run(at, 'call ann')).toEqual({ isDate: true, at: at.toISOString(), note: 'call ann' });
    // The record keeps the argument as JSON gave it; Unix ms are read as a date too.
    const record = await client.run('remind', [at.getTime(), 'again'], { timeout: 15_000 });
    expect(record).toMatchObject({ status: 'success', args: [at.getTime(), 'again'], returning: { isDate: true, at: at.toISOString() } });
    const refused = (at: unknown) =>
      `Arguments of task "remind" are invalid: argument 1 (Date) must be a date (a Date, an ISO 8601 string with its time zone, or Unix ms), got ${at}.`;
    await expect(client.add('remind', ['next tuesday', 'x'])).rejects.toThrow(refused('"next tuesday"'));
    // Strings Date would read as some date, or in the worker's own time zone, name no one instant.
    await expect(client.add('remind', ['1', 'x'])).rejects.toThrow(refused('"1"'));
    await expect(client.add('remind', ['2026-12-01T09:30:00', 'x'])).rejects.toThrow(refused('"2026-12-01T09:30:00"'));
    await expect(client.add('remind', [new Date(Number.NaN), 'x'])).rejects.toThrow(refused('an invalid Date'));
    await expect(client.add('remind', [1e20, 'x'])).rejects.toThrow(refused('100000000000000000000'));
    await expect(client.add('remind', [{ at: 1 }, 'x'])).rejects.toThrow(TaskValidationError);
    expect((await client.run('remind', ['2026-12-01T10:30:00+01:00', 'offset'], { timeout: 15_000 })).returning).toMatchObject({ at: at.toISOString() });
  });

  it('a Date beside a DTO: both converted; an optional Date given null or left out is let through', async () => {
    const handle = client.task(UsersTasks, 'schedule');
    expect(await handle.run(valid, new Date('2026-12-24T18:00:00.000Z'))).toEqual({ isDto: true, at: '2026-12-24T18:00:00.000Z' });
    expect(await handle.run(valid)).toEqual({ isDto: true, at: null });
    expect((await client.run('schedule', [valid, null], { timeout: 15_000 })).returning).toEqual({ isDto: true, at: null });
  });

  it('the context parameter is skipped: the DTO is the first enqueue argument', async () => {
    expect(await client.task(UsersTasks, 'withContext').run(valid)).toBe('withContext: ann@example.com (30) at 12345');
    await expect(client.task(UsersTasks, 'withContext').add({ ...valid, age: 1 })).rejects.toThrow(TaskValidationError);
  });
});

describe('validation before execution, and explicit parameter types', () => {
  const apps = plainApps(inject('redisUrl'));
  afterAll(() => apps.stopAll());

  it('arguments changed after the enqueue check are validated again before the task runs', async () => {
    const app = await apps.start('validation', (a: QueueTasks) =>
      a.task({ name: 'save', paramTypes: [CreateUserDto] }, (user: CreateUserDto) => describeUser(user)),
    );
    expect((await app.run('save', [valid], { timeout: 15_000 })).returning).toBe('ann@example.com (30) at 12345');
    // A plugin after validation corrupts the stored arguments: the worker-side check catches it.
    app.addPlugin({
      name: 'Corrupter',
      handlers: { broker_add_before: ({ task }) => ({ task: { ...task, argsJson: JSON.stringify([{ ...valid, email: 'broken' }]) } }) },
    });
    const record = await app.run('save', [valid], { timeout: 15_000 });
    expect(record.status).toBe('error');
    expect(record.traceback).toMatch(/^TaskValidationError: Arguments of task "save" are invalid: argument 1 \(CreateUserDto\)\.email: email must be an email/);
  });

  it('a global plugin rewriting the arguments at enqueue has what it answers validated, not what it was given', async () => {
    // Global: registered after the built-in validation, whose check must still see the final arguments.
    const defaults = {
      name: 'Defaults',
      handlers: {
        app_add_task_before_broker: ({ args }: { args: unknown[] }) => ({ args: [{ age: 30, ...(args[0] as object) }] }),
      },
    };
    const app = await apps.start('validation', (a: QueueTasks) => a.task({ name: 'save', paramTypes: [CreateUserDto] }, (user: CreateUserDto) => describeUser(user)), {
      plugins: [defaults],
    });
    const { age: _, ...withoutAge } = valid;
    expect((await app.run('save', [withoutAge], { timeout: 15_000 })).returning).toBe('ann@example.com (30) at 12345');
    await expect(app.add('save', [{ ...valid, age: 12 }])).rejects.toThrow(TaskValidationError);
  });

  it('validate: false skips the check', async () => {
    const app = await apps.start('validation', (a: QueueTasks) =>
      a.task({ name: 'raw', paramTypes: [CreateUserDto], validate: false }, (user: { email: string }) => user.email),
    );
    expect((await app.run('raw', [{ email: 'whatever' }], { timeout: 15_000 })).returning).toBe('whatever');
  });
});
