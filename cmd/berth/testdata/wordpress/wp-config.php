<?php
// A wordpress platform's wp-config.php for berth: the site's values come
// from the settings file berth renders per site (the PHP-FPM pool and
// berth's install set BERTH_SETTINGS to it), then WordPress starts.
// berth's end-to-end test replaces Debian's wp-config.php, which reads
// /etc/wordpress/config-<host>.php, with this file.
$berth_settings = getenv('BERTH_SETTINGS');
if (!$berth_settings || !is_readable($berth_settings)) {
    header('HTTP/1.1 500 Internal Server Error');
    exit("BERTH_SETTINGS does not name a readable settings file\n");
}
require $berth_settings;
// The test's theme (Debian ships none without wordpress-theme-*).
define('WP_DEFAULT_THEME', 'berth-test');
if (!defined('ABSPATH')) {
    define('ABSPATH', __DIR__ . '/');
}
require_once ABSPATH . 'wp-settings.php';
