// A message's `css` and `js` URLs are added to the page head once each,
// however many messages name them.

const added = new Set()

export function addStylesheetOnce(doc, href) {
  if (!href || added.has(`css ${href}`)) return false
  added.add(`css ${href}`)
  const link = doc.createElement('link')
  link.rel = 'stylesheet'
  link.href = href
  link.dataset.necsusBotAsset = ''
  doc.head.appendChild(link)
  return true
}

export function addScriptOnce(doc, src) {
  if (!src || added.has(`js ${src}`)) return false
  added.add(`js ${src}`)
  const script = doc.createElement('script')
  script.src = src
  script.async = false
  script.dataset.necsusBotAsset = ''
  doc.head.appendChild(script)
  return true
}
