const { nestAppWebpackConfig } = require('../../tools/webpack/nest-app.webpack.config');

module.exports = nestAppWebpackConfig(__dirname);
