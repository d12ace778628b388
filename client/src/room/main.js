import { createApp } from 'vue'
import RoomApp from './RoomApp.vue'
import { createNecsusApi } from '../lib/necsus-api.js'
import { roomFromPath } from '../lib/urls.js'
import '../styles/base.css'

// window.Necsus exists before any bot script can run.
const necsus = createNecsusApi()
window.Necsus = necsus.api

const room = roomFromPath(window.location.pathname)
if (room === null) {
  window.location.replace('/')
} else {
  createApp(RoomApp, { room, necsus }).mount('#app')
}
