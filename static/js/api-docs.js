// Starts Swagger UI on the API documentation page: a static file, since the site's CSP allows no inline script.
(function () {
  "use strict";
  var container = document.getElementById("swagger-ui");
  if (!container || typeof SwaggerUIBundle === "undefined") {
    return;
  }
  SwaggerUIBundle({
    url: container.getAttribute("data-schema-url"),
    domNode: container,
    deepLinking: true,
    validatorUrl: null,
    supportedSubmitMethods: ["get", "head"],
  });
})();
