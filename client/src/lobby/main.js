import { createApp } from 'vue'
import LobbyApp from './LobbyApp.vue'
import '../styles/base.css'

createApp(LobbyApp).mount('#app')
