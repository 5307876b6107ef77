// Data tables become cards on a phone (trendy.css): each cell shows its column's heading, which this copies
// from the table's head into the cell's data-label. Runs on load and on every htmx swap.
(function () {
  "use strict";

  function labelTables(root) {
    var scope = root && root.querySelectorAll ? root : document;
    var tables = scope.matches && scope.matches("table.data") ? [scope] : scope.querySelectorAll("table.data");
    Array.prototype.forEach.call(tables, function (table) {
      var heads = [];
      var row = table.tHead && table.tHead.rows[table.tHead.rows.length - 1];
      if (!row) {
        return;
      }
      Array.prototype.forEach.call(row.cells, function (th) {
        for (var i = 0; i < (th.colSpan || 1); i += 1) {
          heads.push(th.textContent.trim());
        }
      });
      Array.prototype.forEach.call(table.tBodies, function (body) {
        Array.prototype.forEach.call(body.rows, function (tr) {
          var column = 0;
          Array.prototype.forEach.call(tr.cells, function (cell) {
            if (!cell.hasAttribute("data-label") && heads[column]) {
              cell.setAttribute("data-label", heads[column]);
            }
            column += cell.colSpan || 1;
          });
        });
      });
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    labelTables(document);
  });
  document.addEventListener("htmx:load", function (event) {
    labelTables(event.target.closest ? event.target.closest("table.data") || event.target : document);
  });
})();
