<!DOCTYPE html>
<html>
<head><meta charset="utf-8"><title><?php bloginfo('name'); ?></title></head>
<body>
<h1><?php bloginfo('name'); ?></h1>
<?php while (have_posts()) { the_post(); the_title('<h2>', '</h2>'); } ?>
</body>
</html>
