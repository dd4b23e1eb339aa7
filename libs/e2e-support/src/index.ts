export { AppExit, BuiltApp, RunningApp, stopProcess } from './lib/built-app';
export { freePort } from './lib/free-port';
export { waitForStatus } from './lib/wait-for-status';
