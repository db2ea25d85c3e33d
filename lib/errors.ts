/**
 * Errors that promgate reports to the operator and exits with code 2 for:
 * bad command-line usage, an invalid config, or an invalid htpasswd file.
 * The message must already say what is wrong, where, and how to fix it.
 */
export class InputError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "InputError";
  }
}
