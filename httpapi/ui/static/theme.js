// Applies the chosen theme before the first paint (a classic script, so it
// runs before the stylesheet's colours are used). Only the choice is kept:
// "light" or "dark"; without one the console follows the system.
(function () {
  try {
    var t = localStorage.getItem('ssehub-theme');
    if (t === 'light' || t === 'dark') document.documentElement.dataset.theme = t;
  } catch (e) { /* storage blocked: follow the system */ }
}());
