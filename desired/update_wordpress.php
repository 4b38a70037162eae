// berth's wordpress update step, run by `php -r` in the site's docroot as
// the site's user, with BERTH_SETTINGS naming the site's wp-config values.
// It reads {root, host} as JSON on standard input and runs WordPress's own
// upgrade routine, wp_upgrade(), which updates the database to the code's
// db_version and does nothing when it is current (no wp-cli). It prints
// "berth-update: ok" when done.
$in = json_decode(stream_get_contents(STDIN), true);
if (!is_array($in)) {
    fwrite(STDERR, "berth-update: no input on standard input\n");
    exit(2);
}
$_SERVER['HTTP_HOST'] = $in['host'];
$_SERVER['SERVER_NAME'] = $in['host'];
$_SERVER['REQUEST_URI'] = '/';
$_SERVER['REQUEST_METHOD'] = 'GET';
define('WP_INSTALLING', true);
require $in['root'] . '/wp-load.php';
require_once ABSPATH . 'wp-admin/includes/upgrade.php';
if (!is_blog_installed()) {
    fwrite(STDERR, "berth-update: WordPress is not installed in database " . DB_NAME . "\n");
    exit(1);
}
$before = (int) get_option('db_version');
wp_upgrade();
wp_cache_flush();
echo "WordPress database version ", $before, " -> ", (int) get_option('db_version'), " (code ", $GLOBALS['wp_db_version'], ")\n";
echo "berth-update: ok\n";
