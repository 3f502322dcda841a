return function(event, ctx)
  ctx.in_progress{delay = 5}
  return {done = true}
end
