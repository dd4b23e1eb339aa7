/** Lua scripts are bundled as text: webpack's `asset/source`, jest's text transform. */
declare module '*.lua' {
  const source: string;
  export default source;
}
