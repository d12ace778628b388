// Putting a message's HTML into the page the way the original client did:
// relative URLs resolved against the bot's URL before anything loads,
// <script> elements run once, and forms read into plain JSON.

import { rewriteRelativeUrls } from './urls.js'

/**
 * Parses `html` into an inert fragment (nothing loads or runs yet) with its
 * relative URLs resolved against `baseUrl`.
 */
export function parseMessageHtml(doc, html, baseUrl) {
  const template = doc.createElement('template')
  template.innerHTML = html ?? ''
  rewriteRelativeUrls(template.content, baseUrl)
  return template.content
}

/**
 * Links in messages open in a new tab, so following one never leaves the
 * room. In-page anchors and links with their own target are left alone.
 */
export function openLinksInNewTab(root) {
  for (const a of root.querySelectorAll('a[href]')) {
    if (a.hasAttribute('target') || a.getAttribute('href').startsWith('#')) continue
    a.setAttribute('target', '_blank')
    a.setAttribute('rel', 'noopener noreferrer')
  }
}

/**
 * Makes the <script> elements under `root` (already in the document) run:
 * parsed scripts never run, so each is swapped for a fresh copy. They run in
 * document order, external ones included. Returns how many were started.
 */
export function activateScripts(root) {
  const doc = root.ownerDocument
  let count = 0
  for (const old of root.querySelectorAll('script')) {
    const fresh = doc.createElement('script')
    for (const { name, value } of old.attributes) fresh.setAttribute(name, value)
    fresh.async = false
    fresh.textContent = old.textContent
    old.replaceWith(fresh)
    count += 1
  }
  return count
}

/**
 * The JSON `form_data` of a submitted form: every named field, plus the name
 * and value of the button that submitted it. A name given more than once
 * (checkboxes) becomes a list; files are sent by name only.
 */
export function formDataObject(form, submitter) {
  const data = new (form.ownerDocument.defaultView.FormData)(form)
  if (submitter && submitter.name && !submitter.disabled) {
    // FormData(form) leaves the submitter out; add it as the browser would.
    data.append(submitter.name, submitter.value ?? '')
  }
  const result = {}
  for (const [key, raw] of data.entries()) {
    const value = typeof raw === 'string' ? raw : raw?.name ?? ''
    if (!(key in result)) result[key] = value
    else if (Array.isArray(result[key])) result[key].push(value)
    else result[key] = [result[key], value]
  }
  return result
}

/** The text of some HTML as it would be read out: no tags, scripts or styles. */
export function stripHtml(doc, html) {
  const template = doc.createElement('template')
  template.innerHTML = html ?? ''
  for (const el of template.content.querySelectorAll('script, style, template')) el.remove()
  return (template.content.textContent ?? '').replace(/\s+/g, ' ').trim()
}
