return function(event, ctx)
  if then
end
