/**
 * Records a method decorator's value on the method and under its class and name. The explorers
 * read the function the instance holds, and that may be another one by then: a constructor
 * binding the method (`this.m = this.m.bind(this)`) or a decorator placed above wrapping it
 * leaves a function that carries no metadata.
 */
export function defineMethodMetadata(key: string, value: unknown, target: object, methodName: string | symbol, method: Function): void {
  Reflect.defineMetadata(key, value, method);
  Reflect.defineMetadata(key, value, target, methodName);
}

/** What a decorator recorded for the method the instance runs: on the function, else under the name on the class defining it. */
export function methodMetadata<T>(key: string, prototype: object, methodName: string, method: Function): T | undefined {
  return (Reflect.getMetadata(key, method) as T | undefined) ?? definingClassMetadata<T>(key, prototype, methodName);
}

/** Read from the class that defines the method: a subclass overriding it without the decorator has none. */
function definingClassMetadata<T>(key: string, prototype: object, methodName: string): T | undefined {
  for (let current: object | null = prototype; current; current = Object.getPrototypeOf(current) as object | null) {
    if (Object.hasOwn(current, methodName)) return Reflect.getOwnMetadata(key, current, methodName) as T | undefined;
  }
  return undefined;
}
