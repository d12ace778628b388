// Ids of the messages whose <script>s have run on this page: a message's
// scripts run once, even if its element is ever rendered again.
export const scriptsRunFor = new Set()
