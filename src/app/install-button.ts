/**
 * The Install button: shown when the browser offers to install the app (`beforeinstallprompt`), and
 * handing the choice to the browser. Part of the page's first script, so that an early offer is not missed
 * while the rest of the PWA code (app/pwa.ts) loads.
 */
import { $ } from './dom.ts';

interface BeforeInstallPromptEvent extends Event {
  prompt(): Promise<void>;
  userChoice: Promise<{ outcome: 'accepted' | 'dismissed' }>;
}

export function setUpInstallButton(): void {
  let deferred: BeforeInstallPromptEvent | undefined;
  const button = $<HTMLButtonElement>('install');
  addEventListener('beforeinstallprompt', (event) => {
    event.preventDefault();
    deferred = event as BeforeInstallPromptEvent;
    button.hidden = false;
  });
  button.addEventListener('click', async () => {
    if (!deferred) return;
    await deferred.prompt();
    await deferred.userChoice;
    deferred = undefined;
    button.hidden = true;
  });
  addEventListener('appinstalled', () => (button.hidden = true));
}
