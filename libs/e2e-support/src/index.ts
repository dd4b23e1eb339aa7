export { AppExit, BuiltApp, RunningApp, stopProcess } from './lib/built-app';
export { eventually } from './lib/eventually';
export { waitForStatus } from './lib/wait-for-status';
