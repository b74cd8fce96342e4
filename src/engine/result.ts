/**
 * The one result shape of the code base: a value, or an error that says why not (a code with data in the
 * engine and the app layer, a sentence only where a view has rendered it). Pure.
 */
export type Ok<T> = { ok: true; value: T };
export type Err<E> = { ok: false; error: E };
export type Result<T, E> = Ok<T> | Err<E>;

export function ok<T>(value: T): Ok<T> {
  return { ok: true, value };
}

export function err<E>(error: E): Err<E> {
  return { ok: false, error };
}
