import picocolors from 'picocolors';

/**
 * Colours for people only: on when stdout is a terminal (or FORCE_COLOR is set), off with
 * NO_COLOR and whenever output goes to a pipe or file — also under CI, where picocolors'
 * own default would turn them on.
 */
const enabled = !('NO_COLOR' in process.env) && ('FORCE_COLOR' in process.env || process.stdout.isTTY === true);

export const pc = picocolors.createColors(enabled);
