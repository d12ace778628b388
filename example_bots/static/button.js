// Loaded once by the button bot's `js` key. For every message that holds the
// button, a click marks it and puts text into the message input.
window.Necsus.addEventListener('message', function (element) {
  element.querySelectorAll('.necsus-example-button').forEach(function (button) {
    button.addEventListener('click', function () {
      button.classList.add('clicked');
      window.Necsus.focusMessageInput('button clicked');
    });
  });
});
