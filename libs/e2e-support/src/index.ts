export { AppExit, BuiltApp, RunningApp, stopProcess } from './lib/built-app';
export { waitForStatus } from './lib/wait-for-status';
