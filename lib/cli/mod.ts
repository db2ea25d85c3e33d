/** The command line: arguments, usage, and the commands. */
export { EXIT_FAILURE, EXIT_OK, EXIT_USAGE, parseCommand, USAGE } from "./args.ts";
export { checkCommand } from "./check.ts";
export { DEMO_USER, startDemo } from "./demo.ts";
export { hashPasswordCommand } from "./hash_password.ts";
export { tokenCreateCommand } from "./token.ts";
