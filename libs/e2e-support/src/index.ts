export {
  AppExit,
  RunningApp,
  builtAppMain,
  runBuiltAppToExit,
  startBuiltApp,
  stopProcess,
} from './lib/built-app.process';
export { freePort } from './lib/free-port';
export { waitForStatus } from './lib/wait-for-status';
