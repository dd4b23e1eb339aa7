const { nestAppWebpackConfig } = require('../../tools/webpack/nest-app.webpack.config');

// The bench runs from the workspace: no assets, and no package.json of its own to deploy with.
module.exports = nestAppWebpackConfig(__dirname, { assets: [], generatePackageJson: false });
