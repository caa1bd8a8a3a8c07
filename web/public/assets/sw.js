// Cairn's service worker. It only shows notifications and, when one is
// clicked, brings the page forward on that conversation. It caches nothing,
// intercepts no request and never sees a key or a message it is not handed.

self.addEventListener('install', () => self.skipWaiting());
self.addEventListener('activate', (event) => event.waitUntil(self.clients.claim()));

self.addEventListener('notificationclick', (event) => {
  event.notification.close();
  const peer = event.notification.data?.peer;
  event.waitUntil(
    (async () => {
      const pages = await self.clients.matchAll({ type: 'window', includeUncontrolled: true });
      const page = pages[0];
      if (!page) return self.clients.openWindow('/');
      await page.focus();
      page.postMessage({ type: 'open-chat', peer });
    })(),
  );
});
