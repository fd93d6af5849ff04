// Compiled by `npm test` (tsc --noEmit) and never run: each @ts-expect-error line must be a type
// error, or the compile fails. It proves typed handles check arguments and results.
import { Injectable } from '@nestjs/common';
import { QTasksClient, Task, type TaskRecord } from '../../lib/index.js';

@Injectable()
class UsersService {
  @Task({ name: 'test' })
  async record(id: number, note?: string): Promise<string> {
    return `User ${id} recorded${note ?? ''}`;
  }

  helper = 42;

  @Task()
  protected async cleanup(): Promise<void> {}
}

abstract class Repository {
  @Task()
  async purge(days: number): Promise<number> {
    return days;
  }
}

@Injectable()
class UsersRepository extends Repository {}

export async function typedHandles(client: QTasksClient): Promise<void> {
  const handle = client.task(UsersService, 'record');

  const result: string = await handle.run(5);
  const withNote: string = await handle.run(5, 'x');
  const record: TaskRecord<string, [id: number, note?: string]> = await handle.add(6);
  const returning: string | undefined = record.returning;

  // @ts-expect-error the argument must be a number
  await handle.run('5');
  // @ts-expect-error the id is required
  await handle.add();
  // @ts-expect-error too many arguments
  await handle.add(1, 'a', 'b');
  // @ts-expect-error the result is a string, not a number
  const wrong: number = await handle.run(1);
  // @ts-expect-error not a method of the class
  client.task(UsersService, 'missing');
  // @ts-expect-error a property, not a method
  client.task(UsersService, 'helper');

  const once: { uuid: string; added: boolean } = await handle.addOnce([6, 'x'], { uniqueKey: 'user:6', uniqueTtlMs: 60_000 });
  const bulk: TaskRecord<string, [id: number, note?: string]>[] = await handle.addBulk([{ args: [1] }, { args: [2, 'y'], priority: 3 }]);
  // @ts-expect-error addOnce's arguments are typed too
  await handle.addOnce(['6'], { uniqueKey: 'user:6', uniqueTtlMs: 60_000 });
  // @ts-expect-error addOnce needs its unique key
  await handle.addOnce([6], { uniqueTtlMs: 60_000 });
  // @ts-expect-error each bulk item's arguments are typed
  await handle.addBulk([{ args: [1] }, { args: ['2'] }]);
  // @ts-expect-error a bulk item is { args }, not the bare arguments
  await handle.addBulk([[1]]);
  // @ts-expect-error the handle names the task: an item has no name
  await handle.addBulk([{ name: 'test', args: [1] }]);

  // @ts-expect-error a protected method has no typed handle (README, @Task): it is enqueued by name
  client.task(UsersService, 'cleanup');
  // @ts-expect-error nor an abstract class: the handle is taken on the subclass
  client.task(Repository, 'purge');
  const purged: number = await client.task(UsersRepository, 'purge').run(30);

  void [result, withNote, returning, wrong, once, bulk, purged];
}
