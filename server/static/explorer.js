// GraphiQL for this service: our operations as default tabs, every asset served by the service itself.
(function () {
  "use strict";
  var config = JSON.parse(document.getElementById("explorer-config").textContent);
  var fetchGraphQL = GraphiQL.createFetcher({ url: window.location.pathname });

  // The docs explorer lists root fields and types in schema order: federation's `_entities`, `_service`,
  // `_Any`, `_Entity` and `_Service` (for gateways, not for people) move after ours.
  function isFederation(item) {
    return item.name.charAt(0) === "_" && item.name.charAt(1) !== "_";
  }

  function federationLast(items) {
    return items.filter(function (i) { return !isFederation(i); }).concat(items.filter(isFederation));
  }

  function withFederationLast(result) {
    var schema = result && result.data && result.data.__schema;
    if (!schema || !schema.types) return result;
    schema.types = federationLast(schema.types);
    schema.types.forEach(function (type) {
      if (schema.queryType && type.name === schema.queryType.name && type.fields) {
        type.fields = federationLast(type.fields);
      }
    });
    return result;
  }

  function fetcher(params, options) {
    var answer = fetchGraphQL(params, options);
    return answer && typeof answer.then === "function" ? answer.then(withFederationLast) : answer;
  }

  var root = ReactDOM.createRoot(document.getElementById("graphiql"));
  root.render(
    React.createElement(GraphiQL, {
      fetcher: fetcher,
      defaultTabs: config.tabs,
      defaultEditorToolsVisibility: true,
      shouldPersistHeaders: false,
    })
  );
})();
