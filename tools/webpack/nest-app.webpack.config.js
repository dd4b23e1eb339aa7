const { basename, join } = require('node:path');
const { NxAppWebpackPlugin } = require('@nx/webpack/app-plugin');

/**
 * The webpack config of a Nest app in apps/<name>: a Node bundle at dist/apps/<name>/main.js.
 *
 * @example
 * // apps/orders/webpack.config.js
 * module.exports = nestAppWebpackConfig(__dirname);
 */
function nestAppWebpackConfig(
  appDir,
  { assets = ['./src/assets'], generatePackageJson = true } = {},
) {
  return {
    output: {
      path: join(__dirname, '../../dist/apps', basename(appDir)),
      clean: true,
      ...(process.env.NODE_ENV !== 'production' && {
        devtoolModuleFilenameTemplate: '[absolute-resource-path]',
      }),
    },
    module: {
      // The session library imports its Redis scripts as text (.lua files).
      rules: [{ test: /\.lua$/, type: 'asset/source' }],
    },
    plugins: [
      new NxAppWebpackPlugin({
        target: 'node',
        compiler: 'tsc',
        main: './src/main.ts',
        tsConfig: './tsconfig.app.json',
        assets,
        optimization: false,
        outputHashing: 'none',
        generatePackageJson,
        sourceMap: true,
      }),
    ],
  };
}

module.exports = { nestAppWebpackConfig };
