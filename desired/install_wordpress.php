// berth's wordpress install, run by `php -r` in the site's docroot as the
// web server's user, with BERTH_SETTINGS naming the site's wp-config
// values. It reads {root, host, title, user, email, password} as JSON on
// standard input, so the admin password is never in argv or the
// environment, and installs through WordPress itself (no wp-cli). It is
// safe to repeat: an installed site is left as it is. It prints
// "berth-install: ok" when done: WordPress's wp_die() exits 0.
$in = json_decode(stream_get_contents(STDIN), true);
if (!is_array($in)) {
    fwrite(STDERR, "berth-install: no install input on standard input\n");
    exit(2);
}
$_SERVER['HTTP_HOST'] = $in['host'];
$_SERVER['SERVER_NAME'] = $in['host'];
$_SERVER['REQUEST_URI'] = '/';
$_SERVER['REQUEST_METHOD'] = 'GET';
define('WP_INSTALLING', true);
require $in['root'] . '/wp-load.php';

// No mail: wp_install() would tell the admin by mail, which a web server
// may not be able to send; the password is in berth's state store.
function wp_new_blog_notification($blog_title, $blog_url, $user_id, $password) {}

require_once ABSPATH . 'wp-admin/includes/upgrade.php';
if (is_blog_installed()) {
    echo "WordPress is already installed in database ", DB_NAME, ": nothing to do\n";
    echo "berth-install: ok\n";
    exit(0);
}
$r = wp_install($in['title'], $in['user'], $in['email'], true, '', wp_slash($in['password']));
if (is_wp_error($r)) {
    fwrite(STDERR, "berth-install: wp_install failed: " . $r->get_error_message() . "\n");
    exit(1);
}
echo "WordPress installed: ", $in['title'], ", admin user ", $in['user'], " <", $in['email'], ">\n";
echo "berth-install: ok\n";
