// Starts GraphiQL (vendored in ./graphiql/, no CDN) against the gateway's endpoint.
// The page's settings come from the JSON in #graphiql-config (no inline script: the page's
// Content-Security-Policy allows scripts from the gateway only).
(function () {
  "use strict";
  var config = JSON.parse(document.getElementById("graphiql-config").textContent);
  // JSON POSTs: the gateway's CSRF rule needs no extra header for them.
  var fetcher = GraphiQL.createFetcher({ url: config.endpoint });
  var props = {
    fetcher: fetcher,
    defaultQuery: config.defaultQuery,
    defaultEditorToolsVisibility: true,
    shouldPersistHeaders: false,
  };
  if (config.query) {
    props.query = config.query;
  }
  if (config.variables) {
    props.variables = config.variables;
  }
  if (config.operationName) {
    props.operationName = config.operationName;
  }
  ReactDOM.createRoot(document.getElementById("graphiql")).render(
    React.createElement(GraphiQL, props)
  );
})();
