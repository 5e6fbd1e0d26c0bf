// OAuth 2.0 Form Post Response Mode: the page posts the authorization response to the app at
// once. A static script, not an inline one, so the Content-Security-Policy stays strict;
// without JavaScript the person presses the button instead.
(function () {
  "use strict";
  var form = document.querySelector("form[data-auto-submit]");
  if (form) {
    form.submit();
  }
})();
