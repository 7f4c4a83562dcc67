import { handle, text } from 'rxgi';

/** Hello world: every request gets a short text answer. */
export default handle(() => text('Hello, world!\n'));
